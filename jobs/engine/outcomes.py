"""The end of a run: succeeded, waiting for approval, or a failed attempt (retry or DLQ).

Delivery is at least once, so every outcome is a compare-and-set on (status =
running, worker, attempts): a duplicate delivery, or a job canceled or
recovered meanwhile, changes nothing. The worker's slot is released in the same
transaction, since the code has returned; a discarded outcome releases it too.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from jobs.db import execute_prepared
from jobs.engine.admission import DISCARDED, slot_release
from jobs.jobsconfig import JobsSettings
from jobs.models import Job, Status, WorkerHeartbeat
from jobs.services.config import config_recent
from jobs.services.dlq import dlq_add
from jobs.services.events import event_announce, event_emit

logger = logging.getLogger("jobs.engine")

MAX_BACKOFF_SECONDS = 3600


def _lock_running(job: Job, worker: str | None) -> Job | None:
    """Re-read the job locked, only if it is still this attempt of ours; frees our slot."""
    running = Job.objects.select_for_update().filter(id=job.id, status=Status.RUNNING, attempts=job.attempts)
    if worker is not None:
        running = running.filter(worker=worker)
        slot_release(job.id, worker=worker)
    current = running.first()
    if current is None:
        logger.info("outcome of job %s attempt %s discarded: the job moved on meanwhile", job.id, job.attempts)
    return current


# job_succeed as one statement for the hot path: free the slot, compare-and-set the
# job, store its event; nothing changes but the slot when the job moved on meanwhile.
_SUCCEED_SQL = """
WITH freed AS (
    UPDATE jobs_admissionslot SET job_id = NULL, worker = '', claimed_at = NULL, lease_expires_at = NULL
    WHERE job_id = %(id)s AND worker = %(worker)s
    RETURNING number
), done AS (
    UPDATE jobs_job SET status = 'succeeded', result = %(result)s::jsonb, completed_at = %(now)s,
        updated_at = %(now)s, lease_expires_at = NULL
    WHERE id = %(id)s AND status = 'running' AND attempts = %(attempts)s AND worker = %(worker)s
    RETURNING id, attempts
), stored AS (
    INSERT INTO jobs_event (type, job_id, data, created_at)
    SELECT 'job:succeeded', id, jsonb_build_object('attempt', attempts), %(now)s FROM done
    RETURNING id, data
)
SELECT stored.id, stored.data FROM stored
"""


def job_succeed(job: Job, *, worker: str, result: Any) -> str:
    if connection.vendor == "postgresql":
        return _succeed_in_one_statement(job, worker, result)
    with transaction.atomic():
        current = _lock_running(job, worker)
        if current is None:
            return DISCARDED
        now = timezone.now()
        current.status = Status.SUCCEEDED
        current.result = result
        current.completed_at = now
        current.updated_at = now
        current.lease_expires_at = None
        current.save(update_fields=["status", "result", "completed_at", "updated_at", "lease_expires_at"])
        event_emit("job:succeeded", job=current, attempt=current.attempts)
    return Status.SUCCEEDED


def _succeed_in_one_statement(job: Job, worker: str, result: Any) -> str:
    now = timezone.now()
    params = {
        "id": job.id,
        "worker": worker,
        "attempts": job.attempts,
        "now": now,
        "result": None if result is None else json.dumps(result),
    }
    _, rows = execute_prepared(_SUCCEED_SQL, params)
    row = rows[0] if rows else None
    if row is None:
        logger.info("outcome of job %s attempt %s discarded: the job moved on meanwhile", job.id, job.attempts)
        return DISCARDED
    event_announce(row[0], "job:succeeded", job_id=job.id, data=row[1], created_at=now)
    return Status.SUCCEEDED


def job_wait_for_approval(job: Job, *, worker: str, issue_id: str) -> str:
    """An entry point asked for approval mid-run: running -> waiting_approval.

    The run does not count as a failed attempt.
    """
    cfg = config_recent()
    with transaction.atomic():
        current = _lock_running(job, worker)
        if current is None:
            return DISCARDED
        now = timezone.now()
        current.status = Status.WAITING_APPROVAL
        current.issue_id = issue_id
        current.approval_expires_at = now + timedelta(hours=cfg.approval.defaultTtlHours)
        current.attempts = max(current.attempts - 1, 0)
        current.worker = ""
        current.lease_expires_at = None
        current.updated_at = now
        current.save(
            update_fields=[
                "status",
                "issue_id",
                "approval_expires_at",
                "attempts",
                "worker",
                "lease_expires_at",
                "updated_at",
            ]
        )
        event_emit("job:waiting_approval", job=current, issueId=issue_id)
    return Status.WAITING_APPROVAL


GIVEN_BACK = "given back"  # a run cut off by a worker shutdown: queued again, attempt not counted


def job_give_back(job: Job, *, worker: str) -> str:
    """The worker shut down while the job ran: running -> queued, due at once.

    The cut-off run does not count as an attempt: the job was not at fault. Its
    wake-up is left to the reconciler (``published_at`` cleared), since this worker
    is going away. Returns GIVEN_BACK, or DISCARDED when the job moved on meanwhile.
    """
    with transaction.atomic():
        current = _lock_running(job, worker)
        if current is None:
            return DISCARDED
        now = timezone.now()
        current.status = Status.QUEUED
        current.attempts = max(current.attempts - 1, 0)
        current.worker = ""
        current.lease_expires_at = None
        current.next_attempt_at = now
        current.published_at = None
        current.updated_at = now
        current.save(
            update_fields=[
                "status",
                "attempts",
                "worker",
                "lease_expires_at",
                "next_attempt_at",
                "published_at",
                "updated_at",
            ]
        )
        event_emit(
            "job:retrying",
            job=current,
            reason="Worker shut down while the job ran; the attempt is not counted",
            attempt=current.attempts,
            attemptCounted=False,
            nextAttemptAt=now.isoformat(),
        )
    return GIVEN_BACK


def backoff_seconds(cfg: JobsSettings, attempts: int) -> float:
    """retryDelayMs doubled after each failed attempt, capped at an hour."""
    return min(cfg.worker.retryDelayMs / 1000 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


TRACEBACK_MAX = 20_000
# What every failed attempt changes, whether it is retried or ends the job.
_FAILED_ATTEMPT_FIELDS = ("status", "last_error", "last_traceback", "updated_at", "lease_expires_at")


def job_fail_attempt(job: Job, *, worker: str | None, error: str, exception: str = "", traceback: str = "") -> str:
    """Record a failed attempt: retry with backoff, or fail and add to the DLQ.

    ``worker`` None is the reconciler acting on an abandoned or timed-out job; it
    counts the failure against the worker that ran it. The attempt's exception
    class and traceback go into its event (each attempt keeps its own) and onto
    the job as the last one.
    """
    cfg = config_recent()
    with transaction.atomic():
        current = _lock_running(job, worker)
        if current is None:
            return DISCARDED
        now = timezone.now()
        current.last_error = error[:10_000]
        # The end is kept: it names where the failure was raised.
        current.last_traceback = traceback[-TRACEBACK_MAX:]
        current.updated_at = now
        current.lease_expires_at = None
        failure = {"exception": exception, "traceback": current.last_traceback} if exception else {}
        if current.attempts < current.max_attempts:
            _schedule_retry(current, now, cfg, failure)
        else:
            current.status = Status.FAILED
            current.completed_at = now
            current.save(update_fields=[*_FAILED_ATTEMPT_FIELDS, "completed_at"])
            event_emit("job:failed", job=current, error=current.last_error, attempt=current.attempts, **failure)
            dlq_add(current, reason=f"Max attempts exceeded ({current.attempts}/{current.max_attempts})")
        if worker is None and job.worker:
            WorkerHeartbeat.objects.filter(name=job.worker).update(processed=F("processed") + 1, failed=F("failed") + 1)
    return current.status


def _schedule_retry(job: Job, now, cfg: JobsSettings, failure: dict[str, str]) -> None:
    job.status = Status.QUEUED
    job.next_attempt_at = now + timedelta(seconds=backoff_seconds(cfg, job.attempts))
    job.published_at = None  # the reconciler publishes it once due
    job.worker = ""
    job.save(update_fields=[*_FAILED_ATTEMPT_FIELDS, "next_attempt_at", "published_at", "worker"])
    event_emit(
        "job:retrying",
        job=job,
        error=job.last_error,
        attempt=job.attempts,
        nextAttemptAt=job.next_attempt_at.isoformat(),
        **failure,
    )
