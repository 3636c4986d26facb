"""Django's Tasks framework on the engine (jobs.tasks_backend.JobsBackend), on real workers.

The first part ports the assertions of Django's own backend tests (tests/tasks/
test_tasks.py and test_immediate_backend.py of Django's suite, which test the
framework against its dummy and immediate backends and cannot be pointed at
another backend): what enqueue returns, validation, get_result, async doors.
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
from django.utils import timezone

from jobs.entrypoints import demo_tasks
from jobs.entrypoints.celery_tasks import enqueue as celery_enqueue
from jobs.entrypoints.django_tasks import JobStopped, priority_of
from jobs.models import AuditEntry, DLQEntry, Job, Priority, Status
from jobs.services.audit import Actor
from jobs.services.config import config_update
from jobs.services.dlq import dlq_retry
from jobs.services.lifecycle import job_cancel
from jobs.services.submission import job_submit
from jobs.tasks_backend import JobsBackend
from tests.support.processes import sample_running, wait_for


def finished(result):
    def check():
        result.refresh()
        return result.is_finished

    return check


# -- The framework's contract (ported from Django's tests/tasks) ------------------------------


def test_the_default_backend_is_the_engine_and_says_what_it_supports():
    assert isinstance(task_backends["default"], JobsBackend)
    assert default_task_backend.supports_defer
    assert default_task_backend.supports_async_task
    assert default_task_backend.supports_get_result
    assert default_task_backend.supports_priority


@pytest.mark.django_db
def test_enqueue_stores_a_job_and_answers_a_ready_result():
    result = demo_tasks.add.enqueue(2, b=3)

    assert result.status == TaskResultStatus.READY
    assert result.task == demo_tasks.add
    assert result.args == [2] and result.kwargs == {"b": 3}
    assert not result.is_finished and result.attempts == 0 and result.errors == []
    job = Job.objects.get(id=result.id)
    assert job.entrypoint == "task:jobs.entrypoints.demo_tasks.add"
    assert job.params == {"args": [2], "kwargs": {"b": 3}}
    assert job.status == Status.QUEUED and job.queue_name == "default"
    assert AuditEntry.objects.filter(action="job.submit", object_ids=[str(job.id)], actor="django.tasks").exists()
    with pytest.raises(ValueError, match="not finished"):
        _ = result.return_value


@pytest.mark.django_db
def test_every_enqueue_is_a_job_of_its_own():
    first, second = demo_tasks.add.enqueue(1, 1), demo_tasks.add.enqueue(1, 1)
    assert first.id != second.id
    assert Job.objects.filter(entrypoint="task:jobs.entrypoints.demo_tasks.add").count() == 2


@pytest.mark.django_db
def test_get_result_reads_back_what_enqueue_answered():
    result = demo_tasks.add.enqueue(4, 5)

    assert demo_tasks.add.get_result(result.id) == result
    assert default_task_backend.get_result(result.id) == result
    assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301 (our own object)
    result.refresh()
    assert result.status == TaskResultStatus.READY


@pytest.mark.django_db(transaction=True)
def test_the_async_doors_enqueue_and_read_back():
    result = async_to_sync(demo_tasks.add.aenqueue)(6, 7)
    assert Job.objects.filter(id=result.id).exists()
    assert async_to_sync(demo_tasks.add.aget_result)(result.id) == result
    async_to_sync(result.arefresh)()
    assert result.status == TaskResultStatus.READY


@pytest.mark.django_db
def test_get_result_of_an_unknown_id_or_of_another_task_refuses():
    with pytest.raises(TaskResultDoesNotExist):
        demo_tasks.add.get_result("123")
    with pytest.raises(TaskResultDoesNotExist):
        demo_tasks.add.get_result("5f0cc7a8-5c4b-4a39-9d58-3a8c4a3f7a1e")
    plain, _ = job_submit(actor=Actor.cli("tests"), entrypoint="demo.noop")
    with pytest.raises(TaskResultDoesNotExist):  # a job that is not a task has no TaskResult
        default_task_backend.get_result(str(plain.id))
    other = demo_tasks.explode.enqueue()
    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        demo_tasks.add.get_result(other.id)


@pytest.mark.django_db
def test_an_argument_json_cannot_hold_is_refused_at_enqueue_and_nothing_is_stored():
    before = (Job.objects.count(), AuditEntry.objects.count())

    with pytest.raises(TypeError, match=r"argument 1 of task jobs\.entrypoints\.demo_tasks\.add .*Unsupported type"):
        demo_tasks.add.enqueue(datetime.now(), 1)
    with pytest.raises(TypeError, match="argument 'b' of task"):
        demo_tasks.add.enqueue(1, b=object())
    with pytest.raises(TypeError, match="argument 1 .*not JSON-serialisable"):
        demo_tasks.add.enqueue(float("nan"), 1)
    assert (Job.objects.count(), AuditEntry.objects.count()) == before


def test_validation_of_the_framework_holds():
    with pytest.raises(InvalidTask, match="priority must be a whole number"):
        demo_tasks.add.using(priority=TASK_MAX_PRIORITY + 1)
    with pytest.raises(InvalidTask, match="priority must be a whole number"):
        demo_tasks.add.using(priority=TASK_MIN_PRIORITY - 1)
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        demo_tasks.add.using(run_after=datetime.now())
    with pytest.raises(InvalidTask, match="Queue 'reports' is not valid for backend"):
        demo_tasks.add.using(queue_name="reports")


@pytest.mark.parametrize(
    ("task_priority", "engine"),
    [(-100, Priority.LOW), (-34, Priority.LOW), (-33, Priority.NORMAL), (0, Priority.NORMAL), (33, Priority.NORMAL),
     (34, Priority.HIGH), (89, Priority.HIGH), (90, Priority.CRITICAL), (100, Priority.CRITICAL)],
)  # fmt: skip
def test_framework_priorities_fall_into_the_four_engine_priorities(task_priority, engine):
    assert priority_of(task_priority) == engine


@pytest.mark.django_db
def test_priority_and_queue_are_stored_on_the_job_and_read_back():
    result = demo_tasks.sleep.enqueue(0)  # declared priority=50
    job = Job.objects.get(id=result.id)
    assert job.priority == Priority.HIGH
    assert default_task_backend.get_result(result.id).task.priority == 50
    low = demo_tasks.add.using(priority=-80).enqueue(1, 2)
    assert Job.objects.get(id=low.id).priority == Priority.LOW
    assert default_task_backend.get_result(low.id).task.priority == -50  # the band's value


# -- On real workers -------------------------------------------------------------------------


@pytest.mark.workers
def test_a_task_runs_on_a_worker_and_get_result_gives_its_value(workers):
    workers(1)
    result = demo_tasks.add.enqueue(2, 3)
    awaited = demo_tasks.add_async.enqueue(20, 22)

    wait_for(finished(result), timeout=30, message="the task finished")
    wait_for(finished(awaited), timeout=30, message="the async task finished")
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 5
    assert awaited.return_value == 42
    assert result.attempts == 1 and result.worker_ids == [Job.objects.get(id=result.id).worker]
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.last_attempted_at == result.started_at


@pytest.mark.workers
def test_a_failing_task_retries_then_lands_in_the_dlq_with_its_traceback_and_retries_from_there(workers, beat, cli):
    config_update(actor=cli, changes={"worker": {"maxAttempts": 2, "retryDelayMs": 200}})
    workers(1)
    beat()
    result = demo_tasks.explode.enqueue("the mail server said no")

    wait_for(lambda: DLQEntry.objects.filter(job_id=result.id).exists(), timeout=40, message="the task in the DLQ")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 2 and len(result.errors) == 2
    for error in result.errors:
        assert error.exception_class is ValueError
        assert "raise ValueError(message)" in error.traceback
        assert error.traceback.rstrip().endswith("ValueError: the mail server said no")
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    job = Job.objects.get(id=result.id)
    assert job.last_error == "ValueError: the mail server said no"
    assert "demo_tasks.py" in job.last_traceback

    retried = dlq_retry(actor=cli, job_id=job.id)
    assert retried.entrypoint == job.entrypoint and retried.retried_from_id == job.id
    again = default_task_backend.get_result(str(retried.id))
    wait_for(finished(again), timeout=40, message="the retried task ran again")
    assert again.status == TaskResultStatus.FAILED and again.attempts == 2


@pytest.mark.workers
def test_a_task_taking_context_sees_its_attempt_number(workers, beat, cli):
    config_update(actor=cli, changes={"worker": {"maxAttempts": 3, "retryDelayMs": 200}})
    workers(1)
    beat()
    result = demo_tasks.flaky.enqueue(succeed_on=2)

    wait_for(finished(result), timeout=40, message="the flaky task finished")
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 2
    assert [error.traceback.splitlines()[-1] for error in result.errors] == [
        "RuntimeError: attempt 1 failed on purpose"
    ]


@pytest.mark.workers
def test_run_after_holds_the_task_until_then(workers, beat):
    workers(1)
    beat()
    not_before = timezone.now() + timedelta(seconds=3)
    result = demo_tasks.add.using(run_after=not_before).enqueue(1, 1)
    assert default_task_backend.get_result(result.id).task.run_after == not_before

    wait_for(finished(result), timeout=40, message="the deferred task ran")
    assert result.started_at >= not_before
    assert result.return_value == 2


@pytest.mark.django_db
def test_a_canceled_task_reads_back_as_failed_with_the_reason():
    result = demo_tasks.add.enqueue(1, 1)
    job_cancel(actor=Actor.cli("tests"), job_id=result.id, reason="wrong customer")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert [(e.exception_class, e.traceback) for e in result.errors] == [(JobStopped, "Canceled: wrong customer")]


@pytest.mark.workers
def test_the_global_limit_holds_for_tasks_and_entry_points_together(workers, cli):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 2}})
    for n in range(6):
        demo_tasks.sleep.enqueue(0.4)
        job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 0.4, "n": n})
    workers(2, pool="threads", concurrency=3)

    samples, highest, overs = sample_running(limit=2, total=12, timeout=90)
    assert Job.objects.filter(status=Status.SUCCEEDED).count() == 12
    assert overs == [] and highest == 2, f"{samples} samples"


# -- Celery tasks as entry points ------------------------------------------------------------


@pytest.mark.workers
def test_an_existing_celery_task_runs_as_a_job(workers):
    workers(1)
    job = celery_enqueue(demo_tasks.multiply, 6, b=7)

    wait_for(lambda: Job.objects.get(id=job.id).status == Status.SUCCEEDED, timeout=30, message="the Celery task ran")
    job.refresh_from_db()
    assert job.entrypoint == "celery:demo.multiply" and job.result == 42


@pytest.mark.django_db
def test_celery_entry_points_refuse_unknown_and_engine_tasks():
    from jobs.services.errors import InvalidInput

    for name in ("celery:nope.nothing", "celery:jobs.run_jobs", "celery:celery.ping", "task:os.system"):
        with pytest.raises(InvalidInput, match="unknown entry point"):
            job_submit(actor=Actor.cli("tests"), entrypoint=name)
    with pytest.raises(TypeError, match="must be JSON-serialisable"):
        celery_enqueue(demo_tasks.multiply, object(), 2)
    assert not Job.objects.exists()
