"""Running jobs on real workers: maxJobRuntimeMs, worker stats, disabling and enabling the system."""

from __future__ import annotations

import time

import pytest

from jobs.engine.runner import TIMEOUT_ERROR
from jobs.models import DLQEntry, Event, Job, Status, WorkerHeartbeat
from jobs.selectors import worker_stats
from jobs.services.config import config_get, config_update
from jobs.services.submission import job_submit
from jobs.services.system import worker_set_enabled
from tests.support.processes import process_env, wait_for

pytestmark = pytest.mark.workers


def test_it_times_out_a_run_longer_than_max_job_runtime_and_counts_it_in_worker_stats(workers, cli):
    config_update(actor=cli, changes={"worker": {"maxJobRuntimeMs": 1000}})
    (process,) = workers(1)
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=20, message="the worker announced itself")

    slow, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 30}, max_attempts=1)
    wait_for(lambda: Job.objects.filter(id=slow.id, status=Status.RUNNING).exists(), timeout=20)
    stats = worker_stats(config_get())
    assert stats["running"] is True and stats["workers"] == 1
    assert stats["currentJob"] == str(slow.id)

    started = time.monotonic()
    wait_for(lambda: Job.objects.filter(id=slow.id, status=Status.FAILED).exists(), timeout=20)
    assert time.monotonic() - started < 5, "stopped at about 1 s, not after the 30 s sleep"
    slow.refresh_from_db()
    assert slow.last_error == TIMEOUT_ERROR == "Job timed out"
    assert DLQEntry.objects.get(job=slow).last_error == "Job timed out"

    quick, _ = job_submit(actor=cli, entrypoint="demo.noop")
    wait_for(lambda: Job.objects.filter(id=quick.id, status=Status.SUCCEEDED).exists(), timeout=20)
    wait_for(lambda: worker_stats(config_get())["processed"] == 2, timeout=5)
    stats = worker_stats(config_get())
    assert (stats["processed"], stats["succeeded"], stats["failed"], stats["currentJob"]) == (2, 1, 1, None)
    assert stats["uptimeMs"] > 0
    (row,) = WorkerHeartbeat.objects.all()
    assert row.pid == process.pid and row.name.startswith("w1@")


def test_it_stops_admissions_while_disabled_and_resumes_in_priority_order_when_enabled(workers, beat, cli):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 1}})
    worker_set_enabled(actor=cli, enabled=False, reason="maintenance")
    priorities = ["low", "normal", "high", "critical", "low", "high", "normal", "critical"]
    submitted = [
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n}, priority=p)[0] for n, p in enumerate(priorities)
    ]
    # A long re-publish interval: resuming must not wait for the reconciler's lost-message sweep.
    slow_sweep = process_env(JOBS_REPUBLISH_SECONDS="120")
    workers(1, env=slow_sweep)
    beat(env=slow_sweep)
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=20, message="the worker announced itself")
    time.sleep(2.5)  # the wake-ups arrive and several reconciler rounds pass: nothing may start

    assert Job.objects.filter(status=Status.QUEUED).count() == len(submitted)
    assert not Event.objects.filter(type="job:started").exists()
    assert worker_stats(config_get())["running"] is False

    worker_set_enabled(actor=cli, enabled=True, reason="maintenance over")
    wait_for(
        lambda: Job.objects.filter(status=Status.SUCCEEDED).count() == len(submitted),
        timeout=15,
        message="every job ran after enabling",
    )
    rank = {"critical": 0, "high": 1, "normal": 2, "low": 3}
    expected = [job.id for job, _ in sorted(zip(submitted, priorities, strict=True), key=lambda s: rank[s[1]])]
    started_order = list(Event.objects.filter(type="job:started").order_by("id").values_list("job_id", flat=True))
    assert started_order == expected
