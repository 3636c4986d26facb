"""Failing jobs: attempts with backoff, the DLQ, and retryFromDLQ (also when retries race)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from uuid import UUID

import pytest
from django.db import connection

from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.models import AuditEntry, DLQEntry, Event, Job, Status
from jobs.services.config import config_update
from jobs.services.dlq import dlq_retry, dlq_retry_batch
from jobs.services.errors import NotFound
from jobs.services.operations import dlq_retry_all_start, operation_run
from jobs.services.submission import job_submit
from tests.support.processes import wait_for


def events_of(job: Job) -> list[Event]:
    return list(Event.objects.filter(job_id=job.id).order_by("id"))


@pytest.mark.workers
def test_it_attempts_a_failing_job_max_attempts_times_with_backoff_then_dead_letters_it(workers, beat, cli):
    config_update(actor=cli, changes={"worker": {"maxAttempts": 3, "retryDelayMs": 300}})
    job, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"message": "upstream answered 503"})
    workers(1)
    beat()

    wait_for(lambda: DLQEntry.objects.filter(job=job).exists(), timeout=40, message="the job in the DLQ")
    job.refresh_from_db()
    entry = DLQEntry.objects.get(job=job)
    assert job.status == Status.FAILED and job.attempts == 3
    assert job.last_error == "RuntimeError: upstream answered 503"
    assert entry.reason == "Max attempts exceeded (3/3)"
    assert entry.attempts == 3 and entry.last_error == "RuntimeError: upstream answered 503"

    types = [event.type for event in events_of(job)]
    assert types == [
        "job:submitted",
        *["job:started", "job:retrying"] * 2,
        "job:started",
        "job:failed",
        "job:dlq",
    ]
    # Backoff: retryDelayMs doubled after each failure, and no attempt started before it was due.
    events = events_of(job)
    retrying = [e for e in events if e.type == "job:retrying"]
    started = [e for e in events if e.type == "job:started"]
    delays = [(datetime.fromisoformat(e.data["nextAttemptAt"]) - e.created_at).total_seconds() for e in retrying]
    assert delays[0] == pytest.approx(0.3, abs=0.1) and delays[1] == pytest.approx(0.6, abs=0.1)
    for retry, next_start in zip(retrying, started[1:], strict=True):
        assert next_start.created_at >= datetime.fromisoformat(retry.data["nextAttemptAt"])
    dlq_event = events[-1]
    assert dlq_event.data == {
        "reason": "Max attempts exceeded (3/3)",
        "attempts": 3,
        "lastError": "RuntimeError: upstream answered 503",
    }

    # retryFromDLQ: one new job, linked, with the same work; the entry leaves the DLQ.
    new = dlq_retry(actor=cli, job_id=job.id)
    assert new.retried_from_id == job.id
    assert (new.entrypoint, new.params, new.priority, new.max_attempts) == (
        job.entrypoint,
        job.params,
        job.priority,
        job.max_attempts,
    )
    assert not DLQEntry.objects.filter(job=job).exists()
    assert Job.objects.filter(id=job.id, status=Status.FAILED).exists(), "the old job row stays"
    wait_for(lambda: Job.objects.get(id=new.id).attempts >= 1, timeout=20, message="the new job ran")


def dead_letter(cli, **params) -> Job:
    """Run a demo.fail job once in this process so that it lands in the DLQ."""
    job, _ = job_submit(actor=cli, entrypoint="demo.fail", params=params, max_attempts=1)
    claimed = job_claim_next(worker="w-test")
    assert claimed.id == job.id
    assert job_execute(claimed, worker="w-test") == Status.FAILED
    return job


@pytest.mark.django_db(transaction=True)
def test_it_creates_exactly_one_job_when_ten_retries_of_one_entry_race(roles, cli):
    old = dead_letter(cli, message="race me")
    assert DLQEntry.objects.filter(job=old).exists()
    barrier = threading.Barrier(10)
    created: list[str] = []
    not_found: list[str] = []
    other: list[BaseException] = []

    def retry() -> None:
        try:
            barrier.wait(timeout=10)
            created.append(str(dlq_retry(actor=cli, job_id=old.id).id))
        except NotFound as exc:
            not_found.append(exc.message)
        except BaseException as exc:  # noqa: BLE001 - any other outcome fails the test below
            other.append(exc)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=retry) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert other == []
    assert len(created) == 1 and len(not_found) == 9
    assert all("is not in the DLQ" in message for message in not_found)
    assert list(Job.objects.filter(retried_from=old).values_list("id", flat=True)) == [UUID(created[0])]
    assert Event.objects.filter(type="job:retried_from_dlq", job_id=old.id).count() == 1
    assert AuditEntry.objects.filter(action="dlq.retry", outcome="ok").count() == 1
    assert not DLQEntry.objects.exists()


@pytest.mark.django_db
def test_it_answers_not_found_when_retrying_a_job_that_is_not_in_the_dlq(cli):
    job, _ = job_submit(actor=cli, entrypoint="demo.noop")
    with pytest.raises(NotFound, match="is not in the DLQ"):
        dlq_retry(actor=cli, job_id=job.id)
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_it_retries_a_batch_only_up_to_the_backpressure_threshold(cli):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 10, "backpressureThreshold": 50, "maxConcurrent": 50}})
    dead = [dead_letter(cli, message="boom", n=n) for n in range(8)]
    for n in range(3):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})  # 3 of 5 allowed queued

    new_ids = dlq_retry_batch(actor=cli, job_ids=[job.id for job in dead])

    assert len(new_ids) == 2
    assert Job.objects.queued().count() == 5
    assert DLQEntry.objects.count() == 6  # the rest wait in the DLQ, none lost


@pytest.mark.django_db
def test_it_retries_only_the_entries_there_when_retry_all_was_asked(cli):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 50}})
    for n in range(3):
        dead_letter(cli, message="boom", n=n)
    operation = dlq_retry_all_start(actor=cli, reason="after the outage")
    late = dead_letter(cli, message="failed after the button was pressed")
    DLQEntry.objects.filter(job=late).update(added_at=operation.created_at + timedelta(seconds=1))

    finished = operation_run(operation.id)

    assert (finished.state, finished.done, finished.total, finished.result) == ("done", 3, 3, {"retried": 3})
    assert list(DLQEntry.objects.values_list("job_id", flat=True)) == [late.id]
