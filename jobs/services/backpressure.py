"""Room in the queue: refuse (429) at the backpressure threshold, even under racing submissions.

Counting the queued jobs and inserting one more must not let concurrent
submissions all see room and together overshoot. Serialising every submission
on one lock would do it, and caps the whole system at one submit at a time; so
two modes share one PostgreSQL advisory lock key:

- A single submission takes the lock in *shared* mode, which never waits for
  another single submission. It then reads how many transactions hold the lock
  (``pg_locks``) and counts the committed queued jobs, in that order, and goes
  ahead only if every holder could insert one job and still stay within the
  limit. Whoever takes the lock later sees it still held, or sees its row
  committed, so among all that went ahead the last one counted all the others.
- Near the threshold, and for batches (retry-all, bulk submit, imports), the
  lock is taken in *exclusive* mode: it waits for the shared holders to commit,
  keeps new ones out, and counts exactly.

SQLite needs no lock: its write transactions run one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from django.db import connection, transaction

from jobs.db import execute_prepared
from jobs.jobsconfig import JobsSettings
from jobs.models import Job
from jobs.selectors import utilization_percent
from jobs.services.config import config_get
from jobs.services.errors import Backpressure

# Key of the advisory lock (any constant unique to this purpose).
QUEUE_ROOM_LOCK = 0x4A4F4253
# Take the lock in shared mode, then (a subquery that depends on it, so after it)
# read how many transactions hold it.
_SHARED_LOCK_THEN_HOLDERS = """
SELECT (
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = 0 AND objid = %(key)s AND objsubid = 1 AND granted AND locked.taken = 1
)
FROM (SELECT 1 AS taken FROM (SELECT pg_advisory_xact_lock_shared(%(key)s)) AS lock) AS locked
"""
_QUEUED_UP_TO = "SELECT count(*) FROM (SELECT 1 FROM jobs_job WHERE status = 'queued' LIMIT %(limit)s) AS queued"


class _Crowded(Exception):
    """The shared mode cannot prove there is room; try again in exclusive mode."""


def queue_limit(cfg: JobsSettings) -> int:
    """How many queued jobs make backpressure active (the threshold's job count)."""
    size, threshold = cfg.queue.maxQueueSize, cfg.queue.backpressureThreshold
    limit = max(math.floor(size * threshold / 100) - 1, 0)
    while utilization_percent(limit, size) < threshold:
        limit += 1
    return limit


def _queued_up_to(limit: int) -> int:
    """Queued jobs, counted no further than ``limit`` (the cost stays bounded by the limit)."""
    if _on_postgresql():
        _, [(queued,)] = execute_prepared(_QUEUED_UP_TO, {"limit": limit})
        return queued
    return Job.objects.queued()[:limit].count()


def _refuse(cfg: JobsSettings, queued: int) -> Backpressure:
    utilization = utilization_percent(queued, cfg.queue.maxQueueSize)
    return Backpressure(
        f"Backpressure active: the queue is {utilization}% full "
        f"(threshold {cfg.queue.backpressureThreshold}%); try again later",
        retry_after=max(1, cfg.worker.retryDelayMs // 1000),
        detail={"utilizationPercent": utilization, "queued": queued},
    )


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _lock_exclusive() -> None:
    if _on_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [QUEUE_ROOM_LOCK])


def hold_submissions() -> None:
    """Until the caller's transaction ends, new submissions wait (clear all: nothing slips in)."""
    if not connection.in_atomic_block:
        raise RuntimeError("hold_submissions must run inside a transaction")
    _lock_exclusive()


def ensure_room_in_queue(cfg: JobsSettings | None = None, *, wanted: int = 1) -> int:
    """Inside the caller's transaction, in exclusive mode: refuse (429) at the threshold.

    Returns how many of ``wanted`` new jobs fit before the threshold (at least 1).
    """
    cfg = cfg or config_get()
    if not connection.in_atomic_block:
        raise RuntimeError("ensure_room_in_queue must run inside the transaction that queues the jobs")
    _lock_exclusive()
    limit = queue_limit(cfg)
    queued = _queued_up_to(limit)
    if queued >= limit:
        raise _refuse(cfg, queued)
    return min(wanted, limit - queued)


def paced_limit(cfg: JobsSettings) -> int:
    """How many queued jobs a paced batch (retry-all) fills the queue to: a tenth below the
    threshold's count, so it never turns backpressure on and submissions keep some room
    (but at least one, so that a tiny queue still lets it finish)."""
    limit = queue_limit(cfg)
    return max(limit - max(limit // 10, 1), min(limit, 1))


def room_below_pace(cfg: JobsSettings | None = None, *, wanted: int) -> int:
    """Inside the caller's transaction, in exclusive mode: how many of ``wanted`` new jobs
    fit below ``paced_limit`` (0 when none does; never refused)."""
    cfg = cfg or config_get()
    if not connection.in_atomic_block:
        raise RuntimeError("room_below_pace must run inside the transaction that queues the jobs")
    _lock_exclusive()
    pace = paced_limit(cfg)
    return max(min(wanted, pace - _queued_up_to(pace)), 0)


def _shared_room(cfg: JobsSettings) -> None:
    _, [(holders,)] = execute_prepared(_SHARED_LOCK_THEN_HOLDERS, {"key": QUEUE_ROOM_LOCK})
    limit = queue_limit(cfg)
    queued = _queued_up_to(limit)
    if queued >= limit:
        raise _refuse(cfg, queued)
    if queued + holders > limit:
        raise _Crowded()


def with_room_for_one[T](work: Callable[[], T], cfg: JobsSettings | None = None) -> T:
    """Run ``work`` in a transaction that may queue one job: refused (429) at the threshold."""
    cfg = cfg or config_get()
    if _on_postgresql():
        try:
            with transaction.atomic():
                _shared_room(cfg)
                return work()
        except _Crowded:
            pass
    with transaction.atomic():
        ensure_room_in_queue(cfg)
        return work()
