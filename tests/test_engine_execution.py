"""At-least-once delivery made safe: duplicate wake-ups, outcomes of jobs that moved on, DLQ size."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.engine.wakeups import publish
from jobs.models import DLQEntry, Event, Job, Status, WorkerHeartbeat
from jobs.services.config import config_update
from jobs.services.lifecycle import job_cancel
from jobs.services.submission import job_submit
from tests.support.processes import wait_for


@pytest.mark.workers
def test_it_runs_a_job_once_however_often_its_wake_up_is_delivered(workers, cli, redis_client):
    workers(2)
    job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 0.5})
    assert publish([str(job.id)] * 6) == 6  # five more deliveries of the same message

    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.SUCCEEDED).exists(), timeout=30)
    wait_for(lambda: redis_client.llen("celery") == 0, timeout=10, message="every wake-up consumed")
    job.refresh_from_db()
    assert job.attempts == 1
    assert Event.objects.filter(job_id=job.id, type="job:started").count() == 1
    assert Event.objects.filter(job_id=job.id, type="job:succeeded").count() == 1


@pytest.mark.django_db
def test_it_discards_the_outcome_of_a_job_canceled_while_it_ran(cli):
    job, _ = job_submit(actor=cli, entrypoint="demo.noop")
    claimed = job_claim_next(worker="w-test")
    job_cancel(actor=cli, job_id=job.id, reason="stop it")

    assert job_execute(claimed, worker="w-test") == "discarded"
    job.refresh_from_db()
    assert (job.status, job.status_reason, job.result) == (Status.CANCELED, "stop it", None)
    assert not Event.objects.filter(job_id=job.id, type="job:succeeded").exists()


@pytest.mark.django_db
def test_it_keeps_the_slot_of_a_canceled_job_until_its_code_returns(cli):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 1}})
    now = timezone.now()
    for name in ("w-1", "w-2"):
        WorkerHeartbeat.objects.create(name=name, hostname="h", pid=1, started_at=now, last_seen=now)
    first, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 1})
    second, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 2})
    claimed = job_claim_next(worker="w-1")
    job_cancel(actor=cli, job_id=first.id, reason="stop")

    assert job_claim_next(worker="w-2") is None  # the canceled job's code still runs on w-1
    assert job_execute(claimed, worker="w-1") == "discarded"
    assert job_claim_next(worker="w-2").id == second.id


@pytest.mark.django_db
def test_it_admits_nothing_for_a_second_claim_of_a_job_already_running(cli):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 5}})
    job, _ = job_submit(actor=cli, entrypoint="demo.noop")
    assert job_claim_next(worker="w-1").id == job.id
    assert job_claim_next(worker="w-2") is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == (Status.RUNNING, 1, "w-1")


@pytest.mark.django_db
def test_it_evicts_the_oldest_dlq_entries_beyond_max_size_and_keeps_the_jobs(cli):
    config_update(actor=cli, changes={"dlq": {"maxSize": 2}})
    failed = []
    for n in range(3):
        job, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"n": n}, max_attempts=1)
        assert job_execute(job_claim_next(worker="w-test"), worker="w-test") == Status.FAILED
        failed.append(job.id)

    assert set(DLQEntry.objects.values_list("job_id", flat=True)) == set(failed[1:])
    evicted = Event.objects.get(type="dlq:evicted")
    assert evicted.data == {"count": 1, "jobIds": [str(failed[0])], "maxSize": 2}
    assert Job.objects.filter(id__in=failed, status=Status.FAILED).count() == 3
