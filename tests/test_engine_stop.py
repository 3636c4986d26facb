"""Stopping a running job stops its code: cancel, force-fail, the emergency force-fail, a worker shutdown.

The heartbeat of the worker process that runs a job notices that it is no longer
running in the database and interrupts its code; the job's admission slot is
freed when that code returns, so a queued job starts within seconds instead of
when the stopped code would have finished. A worker shutting down gives its
running jobs back to the queue without counting the attempt.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest

from jobs.models import AdmissionSlot, DLQEntry, Event, Job, Status
from jobs.selectors import queue_stats
from jobs.services.config import config_get, config_update
from jobs.services.lifecycle import job_cancel, job_force_fail, jobs_force_fail_running
from jobs.services.submission import job_submit
from tests.support import entrypoints
from tests.support.processes import process_env, wait_for

pytestmark = pytest.mark.workers

LONG = {"seconds": 120}


def stop(action: str, job, cli) -> None:
    if action == "force-fail":
        job_force_fail(actor=cli, job_id=job.id, reason="operator: stuck")
    elif action == "cancel":
        job_cancel(actor=cli, job_id=job.id, reason="operator: not needed")
    else:
        assert jobs_force_fail_running(actor=cli, reason="incident") == 1


@pytest.mark.parametrize(
    ("pool", "action"),
    [("solo", "force-fail"), ("prefork", "cancel"), ("threads", "force-fail"), ("threads", "force-fail-running")],
)
def test_it_stops_the_code_of_a_stopped_job_so_the_queued_job_starts_within_seconds(workers, cli, pool, action):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 1}})
    workers(1, pool=pool, concurrency=2)
    long_job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params=LONG, max_attempts=3)
    wait_for(lambda: Job.objects.filter(id=long_job.id, status=Status.RUNNING).exists(), timeout=30)
    queued, _ = job_submit(actor=cli, entrypoint="demo.noop")
    time.sleep(1)
    assert Job.objects.get(id=queued.id).status == Status.QUEUED, "one slot, held by the long job"

    stop(action, long_job, cli)
    stopped_at = time.monotonic()
    wait_for(
        lambda: Job.objects.filter(id=queued.id, status=Status.SUCCEEDED).exists(),
        timeout=10,
        message="the queued job ran once the stopped job's code was interrupted",
    )
    print(f"{pool}/{action}: queued job succeeded {time.monotonic() - stopped_at:.2f}s after the stop")

    long_job.refresh_from_db()
    assert long_job.status == (Status.CANCELED if action == "cancel" else Status.FAILED)
    assert long_job.attempts == 1 and long_job.result is None
    assert not Event.objects.filter(job_id=long_job.id, type__in=["job:retrying", "job:succeeded"]).exists()
    if action != "cancel":
        assert DLQEntry.objects.filter(job=long_job).exists()
    assert not AdmissionSlot.objects.filter(job_id=long_job.id).exists()
    assert queue_stats(config_get())["stopping"] == 0


def test_it_keeps_the_slot_of_a_job_stopping_in_a_blocking_call_until_the_call_returns(workers, cli):
    """A threads-pool job blocked in C is interrupted when the call returns; meanwhile its slot stays
    held (maxConcurrent holds) and the queue stats say a slot is held by a job still stopping."""
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 1}})
    workers(1, pool="threads", concurrency=2, env=process_env(JOBS_ENTRYPOINT_MODULES=entrypoints.MODULES))
    blocked, _ = job_submit(actor=cli, entrypoint="test.block", params={"seconds": 6})
    wait_for(lambda: Job.objects.filter(id=blocked.id, status=Status.RUNNING).exists(), timeout=30)
    queued, _ = job_submit(actor=cli, entrypoint="demo.noop")

    job_force_fail(actor=cli, job_id=blocked.id, reason="stuck")
    stats = queue_stats(config_get())
    assert (stats["running"], stats["stopping"]) == (0, 1)
    time.sleep(2)  # several heartbeats: the stop is asked for, the call has not returned
    assert Job.objects.get(id=queued.id).status == Status.QUEUED
    assert queue_stats(config_get())["stopping"] == 1

    wait_for(lambda: Job.objects.filter(id=queued.id, status=Status.SUCCEEDED).exists(), timeout=15)
    blocked.refresh_from_db()
    started = Event.objects.get(job_id=queued.id, type="job:started").created_at
    assert started - blocked.started_at >= timedelta(seconds=5.5), "not beside the blocked call"
    assert queue_stats(config_get())["stopping"] == 0
    assert blocked.result is None, "interrupted when the call returned, before it could succeed"


@pytest.mark.parametrize("pool", ["solo", "prefork", "threads"])
def test_it_gives_a_running_job_back_without_counting_the_attempt_when_its_worker_shuts_down(workers, beat, cli, pool):
    (worker,) = workers(1, pool=pool, concurrency=2)
    job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params=LONG, max_attempts=1)
    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.RUNNING).exists(), timeout=30)

    os.kill(worker.pid, signal.SIGTERM)  # a warm shutdown, as a deploy or `make run`'s stop sends
    asked = time.monotonic()
    worker.popen.wait(timeout=15)
    print(f"{pool}: worker exited {time.monotonic() - asked:.2f}s after SIGTERM")
    assert time.monotonic() - asked < 10, "the worker did not wait for the 120 s job"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == (Status.QUEUED, 0, "")
    assert not DLQEntry.objects.filter(job=job).exists()
    given_back = Event.objects.get(job_id=job.id, type="job:retrying")
    assert given_back.data["attemptCounted"] is False
    assert not AdmissionSlot.objects.filter(job_id=job.id).exists()

    # The next worker runs it, as its first attempt (max_attempts=1 would send a second one to the DLQ).
    Job.objects.filter(id=job.id).update(params={"seconds": 0.2})
    workers(1, prefix="next")
    beat()  # the reconciler publishes the given-back job's wake-up
    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.SUCCEEDED).exists(), timeout=30)
    job.refresh_from_db()
    assert job.attempts == 1
