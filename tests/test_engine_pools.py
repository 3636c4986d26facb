"""Every Celery pool a user would pick: prefork, threads and solo keep the engine's guarantees.

maxConcurrent holds across processes and threads, every job a process runs keeps
its lease (so none is declared lost while it runs), maxJobRuntimeMs is enforced in
a pool's thread, and kill -9 of prefork children and parents loses nothing.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from jobs.engine.reconciler import WORKER_LOST_ERROR
from jobs.engine.runner import TIMEOUT_ERROR
from jobs.models import AdmissionSlot, DLQEntry, Event, Job, Status, WorkerHeartbeat
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from tests.support.processes import sample_running, wait_for

pytestmark = pytest.mark.workers


def test_threads_pool_keeps_the_lease_of_every_job_it_runs_so_none_runs_twice(workers, beat, cli):
    """Two jobs longer than the lease (3 s here) in one threads-pool process: each runs once."""
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 4}})
    long_jobs = [job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 7, "n": n})[0] for n in range(2)]
    workers(1, pool="threads", concurrency=2)
    wait_for(
        lambda: Job.objects.filter(status=Status.RUNNING).count() == 2,
        timeout=30,
        message="both long jobs running in the threads-pool process",
    )
    # Only now a second worker, which would take a job wrongly declared lost (not one still queued).
    workers(1, prefix="spare")
    beat()

    wait_for(
        lambda: Job.objects.filter(status=Status.SUCCEEDED).count() == 2,
        timeout=40,
        message="both long jobs succeeded",
    )
    for job in long_jobs:
        job.refresh_from_db()
        assert job.attempts == 1, f"{job.id} ran {job.attempts} times: {job.last_error}"
        assert WORKER_LOST_ERROR not in job.last_error
    assert Event.objects.filter(type="job:started").count() == 2
    assert not Event.objects.filter(type="job:retrying").exists()
    assert len({job.worker for job in long_jobs}) == 1, "both ran in the threads-pool process"


def test_threads_pool_stops_a_job_at_max_job_runtime_and_frees_its_slot(workers, beat, cli):
    config_update(actor=cli, changes={"worker": {"maxJobRuntimeMs": 1000}})
    slow, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 30}, max_attempts=1)
    workers(1, pool="threads", concurrency=2)
    beat()
    wait_for(lambda: Job.objects.filter(id=slow.id, status=Status.RUNNING).exists(), timeout=20)
    started = time.monotonic()

    wait_for(lambda: Job.objects.filter(id=slow.id, status=Status.FAILED).exists(), timeout=20)
    wait_for(lambda: not AdmissionSlot.objects.filter(job_id=slow.id).exists(), timeout=10, message="slot freed")
    assert time.monotonic() - started < 5, "the code stopped at about 1 s, not after its 30 s sleep"
    slow.refresh_from_db()
    assert slow.last_error == TIMEOUT_ERROR
    assert DLQEntry.objects.filter(job=slow).exists()


def test_four_prefork_workers_of_four_children_never_run_more_than_max_concurrent(workers, beat, cli):
    """16 child processes compete for 3 slots: the running count sampled never exceeds 3, and reaches it."""
    total = 90
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 3, "maxQueueSize": 1000}})
    for n in range(total):
        job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 0.1, "n": n})
    workers(4, pool="prefork", concurrency=4)
    beat()

    samples, max_running, overs = sample_running(limit=3, total=total, timeout=120)
    print(f"\nmaxConcurrent=3, 4x prefork -c 4, {total} jobs: max running {max_running} over {samples} samples")

    assert overs == [], f"more than maxConcurrent running at once: {overs[:10]}"
    assert Job.objects.filter(status=Status.SUCCEEDED).count() == total
    assert max_running == 3, "every slot was used"
    assert len(set(Job.objects.values_list("worker", flat=True))) >= 3, "children of several workers ran jobs"


def _worker_children(parent_pid: int) -> list[int]:
    path = f"/proc/{parent_pid}/task/{parent_pid}/children"
    try:
        with open(path) as children:
            return [int(pid) for pid in children.read().split()]
    except OSError:
        return []


def test_kill_9_of_prefork_children_and_parents_loses_no_job(workers, beat, cli):
    """300 jobs; children and a whole worker are killed with SIGKILL: each job ends succeeded or in the DLQ."""
    total = 300
    config_update(
        actor=cli,
        changes={"queue": {"maxConcurrent": 6, "maxQueueSize": 10_000}, "worker": {"retryDelayMs": 200}},
    )
    for n in range(total):
        job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 0.05, "n": n}, max_attempts=3)
    processes = workers(3, pool="prefork", concurrency=2)
    beat()
    wait_for(lambda: Job.objects.filter(status=Status.SUCCEEDED).count() > 20, timeout=60, message="work under way")

    kills = 0
    for process in processes[:2]:  # children of two workers: the parent starts new ones
        for child in _worker_children(process.pid):
            os.kill(child, signal.SIGKILL)
            kills += 1
        time.sleep(0.5)
    orphans = _worker_children(processes[2].pid)
    processes[2].kill9()  # a whole worker, parent and all
    for child in orphans:
        os.kill(child, signal.SIGKILL)
    kills += 1
    workers(1, pool="prefork", concurrency=2, prefix="late")

    wait_for(
        lambda: not Job.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists(),
        timeout=150,
        interval=0.5,
        message="every job ended",
    )
    failed = Job.objects.filter(status=Status.FAILED)
    print(f"\n{total} jobs, {kills} kills: {failed.count()} in the DLQ")
    assert kills >= 3
    assert Job.objects.filter(status=Status.SUCCEEDED).count() + failed.count() == total
    assert DLQEntry.objects.filter(job__in=failed).count() == failed.count(), "every failed job is in the DLQ"
    assert all(entry.reason for entry in DLQEntry.objects.all())
    assert WorkerHeartbeat.objects.exists()
