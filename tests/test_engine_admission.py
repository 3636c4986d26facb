"""Admission: priority order, jobKey idempotency, backpressure and the global maxConcurrent."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from jobs.engine.admission import job_claim_next
from jobs.models import Event, Job, Status
from jobs.selectors import queue_stats
from jobs.services.config import config_get, config_update
from jobs.services.errors import Backpressure
from jobs.services.lifecycle import job_cancel
from jobs.services.submission import job_submit
from tests.support.processes import sample_running, wait_for

pytestmark = pytest.mark.django_db


def configure(cli, **sections) -> None:
    config_update(actor=cli, changes=sections)


def test_it_admits_critical_then_high_then_normal_then_low_and_fifo_within_each(cli):
    configure(cli, queue={"maxConcurrent": 100})
    submitted = []
    for n, priority in enumerate(["low", "normal", "critical", "high", "low", "critical", "normal", "high"]):
        job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": n}, priority=priority)
        submitted.append((priority, n, job.id))

    admitted = [job_claim_next(worker="w-test").id for _ in submitted]

    rank = {"critical": 0, "high": 1, "normal": 2, "low": 3}
    expected = [job_id for _, _, job_id in sorted(submitted, key=lambda s: (rank[s[0]], s[1]))]
    assert admitted == expected
    assert job_claim_next(worker="w-test") is None


def test_it_skips_jobs_whose_retry_backoff_has_not_passed(cli):
    later, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 1}, priority="critical")
    Job.objects.filter(id=later.id).update(next_attempt_at=later.created_at + timedelta(hours=1))
    now, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 2}, priority="low")

    assert job_claim_next(worker="w-test").id == now.id
    assert job_claim_next(worker="w-test") is None


def test_it_returns_the_active_job_for_a_repeated_job_key(cli):
    first, created = job_submit(actor=cli, entrypoint="demo.noop", params={"a": 1, "b": 2})
    again, created_again = job_submit(actor=cli, entrypoint="demo.noop", params={"b": 2, "a": 1})
    explicit, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"x": 1}, job_key="nightly-report")
    # The same key with the same params (a key with other params is a 409: test_job_key_conflicts.py).
    explicit_again, explicit_created = job_submit(
        actor=cli, entrypoint="demo.noop", params={"x": 1}, job_key="nightly-report"
    )

    assert created and not created_again
    assert again.id == first.id
    assert explicit_again.id == explicit.id and not explicit_created
    assert Job.objects.count() == 2
    assert Event.objects.filter(type="job:submitted").count() == 2

    # Once the job has ended, the same key makes a new job.
    job_cancel(actor=cli, job_id=first.id, reason="done with it")
    fresh, fresh_created = job_submit(actor=cli, entrypoint="demo.noop", params={"a": 1, "b": 2})
    assert fresh_created and fresh.id != first.id and fresh.job_key == first.job_key


def test_it_refuses_submissions_at_the_backpressure_threshold_with_a_clear_error(cli):
    configure(cli, queue={"maxQueueSize": 10, "backpressureThreshold": 80})
    for n in range(7):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    stats = queue_stats(config_get())
    assert (stats["queued"], stats["utilizationPercent"], stats["backpressureActive"]) == (7, 70.0, False)

    job_submit(actor=cli, entrypoint="demo.noop", params={"n": 7})  # 8 queued = 80 %: the threshold
    stats = queue_stats(config_get())
    assert (stats["utilizationPercent"], stats["backpressureActive"]) == (80.0, True)

    with pytest.raises(Backpressure) as refused:
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": 8})
    assert refused.value.status == 429
    assert "Backpressure active" in refused.value.message and "80.0% full" in refused.value.message
    assert refused.value.retry_after >= 1
    assert Job.objects.count() == 8

    # A repeated jobKey is not a new submission: it still answers with the existing job.
    existing, created = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 0})
    assert not created and existing.params == {"n": 0}


def test_it_counts_only_queued_jobs_in_utilization(cli):
    configure(cli, queue={"maxQueueSize": 4, "maxConcurrent": 10})
    for n in range(3):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    job_submit(actor=cli, entrypoint="demo.noop", params={"w": 1}, issue_id="12")
    job_claim_next(worker="w-test")

    stats = queue_stats(config_get())
    assert stats["queued"] == 2 and stats["running"] == 1
    assert stats["utilizationPercent"] == 50.0  # 2 queued / 4 x 100


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_job_when_the_same_job_key_is_submitted_concurrently(roles, cli):
    barrier = threading.Barrier(8)
    results: list[tuple[str, bool]] = []

    def submit() -> None:
        try:
            barrier.wait(timeout=10)
            job, created = job_submit(actor=cli, entrypoint="demo.noop", params={"same": True})
            results.append((str(job.id), created))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 8
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_holds_the_backpressure_threshold_when_submissions_race(roles, cli):
    configure(cli, queue={"maxQueueSize": 10, "backpressureThreshold": 80})
    for n in range(6):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    barrier = threading.Barrier(10)
    accepted, refused = [], []

    def submit(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            job_submit(actor=cli, entrypoint="demo.noop", params={"racer": n})
            accepted.append(n)
        except Backpressure:
            refused.append(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # 8 queued jobs are 80 %: two of the ten get in, eight are refused.
    assert (len(accepted), len(refused)) == (2, 8)
    assert Job.objects.queued().count() == 8


@pytest.mark.workers
def test_it_never_runs_more_than_max_concurrent_jobs_across_three_workers(workers, beat, cli):
    """3 worker processes, maxConcurrent 2, 210 jobs: sampled, running never exceeds 2."""
    total = 210
    configure(cli, queue={"maxConcurrent": 2, "maxQueueSize": 1000})
    for n in range(total):
        job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 0.03, "n": n})
    started_at = time.monotonic()
    workers(3)
    beat()

    samples, max_running, overs = sample_running(limit=2, total=total)
    elapsed = time.monotonic() - started_at
    print(f"\nmaxConcurrent=2, 3 workers, {total} jobs: max running {max_running}, {samples} samples, {elapsed:.1f}s")

    assert overs == [], f"more than maxConcurrent running at once: {overs[:10]}"
    assert Job.objects.filter(status=Status.SUCCEEDED).count() == total, "every job finishes"
    assert max_running == 2, "both slots were used"
    # The work was shared: more than one process ran jobs.
    workers_used = set(Job.objects.values_list("worker", flat=True))
    assert len(workers_used) >= 2
    wait_for(lambda: not Job.objects.running().exists(), timeout=5)
