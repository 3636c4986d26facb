"""Admission: the next job to run, and never more than maxConcurrent at once.

There is one AdmissionSlot row for each job allowed to run at once. A claim, in
one transaction, takes a free slot ``FOR UPDATE SKIP LOCKED``, then the best due
job ``FOR UPDATE SKIP LOCKED`` (highest priority, then oldest), and writes the
job into the slot. Claimers never wait for each other: each locks a different
slot and a different job. No more jobs can hold slots than there are slot rows
numbered up to maxConcurrent, so the limit holds across every worker process and
machine without a global lock (why this design: docs/architecture.md).

A slot is released when the job's code has returned (in the outcome's
transaction), or by the reconciler once the worker's lease has run out. A job
holding a slot is never admitted again, so a job canceled, force-failed or timed
out while its code still runs neither frees its slot early nor runs twice.

When maxConcurrent shrinks, slots above it are not claimed again, and no slot
is claimed while one above the limit is still held: running jobs are never cut
short, and admissions resume once fewer than the new limit run.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from jobs.db import execute_prepared, model_from_row
from jobs.jobsconfig import JobsSettings
from jobs.models import AdmissionSlot, Job, Status
from jobs.services.config import config_recent
from jobs.services.events import event_announce, event_emit

DISCARDED = "discarded"  # an outcome that changed nothing: the job had moved on meanwhile


def slots_ensure(count: int) -> None:
    """Make sure slot rows 1..count exist. Rows above the limit stay, unclaimed."""
    AdmissionSlot.objects.bulk_create([AdmissionSlot(number=n) for n in range(1, count + 1)], ignore_conflicts=True)


def _free_slot(limit: int) -> AdmissionSlot | None:
    held_above_limit = AdmissionSlot.objects.filter(number__gt=limit, job_id__isnull=False)
    return (
        AdmissionSlot.objects.filter(number__lte=limit, job_id__isnull=True)
        .filter(~Exists(held_above_limit))
        .select_for_update(skip_locked=True)
        .order_by("number")
        .first()
    )


def _next_due_job(now) -> Job | None:
    holds_a_slot = AdmissionSlot.objects.filter(job_id=OuterRef("id"))
    return (
        Job.objects.due(now)
        .filter(~Exists(holds_a_slot))
        .in_admission_order()
        .select_for_update(skip_locked=True)
        .first()
    )


# The claim as one statement: one round trip and one commit, for the hot path. Each
# CTE is a step of _claim_with_orm; all share one snapshot. A claim statement first
# names the slot it fills as `slot`; _CLAIM_STEPS then takes the best due job
# (only once `slot` has a row), makes it running and stores its job:started event.
_NONE_HELD_ABOVE_LIMIT = """NOT EXISTS (
        SELECT 1 FROM jobs_admissionslot above WHERE above.number > %(limit)s AND above.job_id IS NOT NULL
    )"""
_CLAIM_STEPS = """job AS (
    SELECT id FROM jobs_job
    WHERE status = 'queued' AND next_attempt_at <= %(now)s AND EXISTS (SELECT 1 FROM slot)
      AND NOT EXISTS (SELECT 1 FROM jobs_admissionslot holding WHERE holding.job_id = jobs_job.id)
      AND NOT EXISTS (
        SELECT 1 FROM jobs_pause paused
        WHERE paused.entrypoint = jobs_job.entrypoint OR paused.priority = jobs_job.priority
      )
    ORDER BY priority, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs_job SET status = 'running', attempts = attempts + 1, started_at = %(now)s, updated_at = %(now)s,
        worker = %(worker)s, lease_expires_at = %(lease)s
    FROM job WHERE jobs_job.id = job.id
    RETURNING jobs_job.*
), started AS (
    INSERT INTO jobs_event (type, job_id, data, created_at)
    SELECT 'job:started', claimed.id,
        jsonb_build_object('worker', %(worker)s::text, 'attempt', claimed.attempts), %(now)s
    FROM claimed
    RETURNING id, data
)"""

_CLAIM_SQL = f"""
WITH slot AS (
    SELECT number FROM jobs_admissionslot
    WHERE job_id IS NULL AND number <= %(limit)s AND {_NONE_HELD_ABOVE_LIMIT}
    ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED
), {_CLAIM_STEPS}, held AS (
    UPDATE jobs_admissionslot SET job_id = claimed.id, worker = %(worker)s, claimed_at = %(now)s,
        lease_expires_at = %(lease)s
    FROM slot, claimed WHERE jobs_admissionslot.number = slot.number
    RETURNING jobs_admissionslot.number
)
SELECT claimed.*, started.id AS started_event_id, started.data AS started_event_data
FROM claimed, started
"""  # noqa: S608 - composed of the constant fragments above, values are parameters

# The hot path of a drain: job N succeeded, and its slot goes straight to job N+1,
# in one statement (one commit instead of two). `done` and `stored` are job_succeed;
# `mine` is the slot job N held; it is kept as `slot` for the next job only while
# its number is within maxConcurrent, none above is held and the system is enabled;
# otherwise `handed` frees it and nothing is claimed.
_SUCCEED_THEN_CLAIM_SQL = f"""
WITH done AS (
    UPDATE jobs_job SET status = 'succeeded', result = %(result)s::jsonb, completed_at = %(now)s,
        updated_at = %(now)s, lease_expires_at = NULL
    WHERE id = %(done_id)s AND status = 'running' AND attempts = %(attempts)s AND worker = %(worker)s
    RETURNING id, attempts
), stored AS (
    INSERT INTO jobs_event (type, job_id, data, created_at)
    SELECT 'job:succeeded', id, jsonb_build_object('attempt', attempts), %(now)s FROM done
    RETURNING id, data
), mine AS (
    SELECT number FROM jobs_admissionslot WHERE job_id = %(done_id)s AND worker = %(worker)s FOR UPDATE
), slot AS (
    SELECT number FROM mine WHERE %(enabled)s AND number <= %(limit)s AND {_NONE_HELD_ABOVE_LIMIT}
), {_CLAIM_STEPS}, handed AS (
    UPDATE jobs_admissionslot
    SET job_id = (SELECT id FROM claimed),
        worker = CASE WHEN EXISTS (SELECT 1 FROM claimed) THEN %(worker)s ELSE '' END,
        claimed_at = CASE WHEN EXISTS (SELECT 1 FROM claimed) THEN %(now)s END,
        lease_expires_at = CASE WHEN EXISTS (SELECT 1 FROM claimed) THEN %(lease)s END
    FROM mine WHERE jobs_admissionslot.number = mine.number
    RETURNING jobs_admissionslot.number
)
SELECT claimed.*, started.id AS started_event_id, started.data AS started_event_data,
    (SELECT id FROM stored) AS succeeded_event_id, (SELECT data FROM stored) AS succeeded_event_data
FROM (SELECT 1) AS one LEFT JOIN claimed ON true LEFT JOIN started ON true
"""  # noqa: S608 - composed of the constant fragments above, values are parameters


def job_claim_next(*, worker: str, cfg: JobsSettings | None = None) -> Job | None:
    """Admit the highest-priority, oldest due job if a slot is free; None otherwise."""
    cfg = cfg or config_recent()
    now = timezone.now()
    if not cfg.worker.enabled:
        _return_to_outbox(now)
        return None
    if connection.vendor == "postgresql":
        return _claim_in_one_statement(worker, cfg, now)
    return _claim_with_orm(worker, cfg, now)


def _claim_in_one_statement(worker: str, cfg: JobsSettings, now) -> Job | None:
    params = {"limit": cfg.queue.maxConcurrent, "now": now, "worker": worker, "lease": _lease(now)}
    names, rows = execute_prepared(_CLAIM_SQL, params)
    if not rows:
        if not AdmissionSlot.objects.filter(number=cfg.queue.maxConcurrent).exists():
            slots_ensure(cfg.queue.maxConcurrent)  # a new database, or the limit grew
            return _claim_with_orm(worker, cfg, now)
        return None
    return _claimed_job(names, rows[0], now)


def job_succeed_then_claim_next(
    job: Job, *, worker: str, result: Any, cfg: JobsSettings | None = None
) -> tuple[str, Job | None]:
    """job_succeed, then the next job into the same slot, in one statement (PostgreSQL).

    Returns (the finished job's status or "discarded", the next job or None). A
    drain calls this after each success, so a busy worker commits once per job.
    """
    cfg = cfg or config_recent()
    now = timezone.now()
    params = {
        "done_id": job.id,
        "attempts": job.attempts,
        "worker": worker,
        "result": None if result is None else json.dumps(result),
        "enabled": cfg.worker.enabled,
        "limit": cfg.queue.maxConcurrent,
        "now": now,
        "lease": _lease(now),
    }
    names, [row] = execute_prepared(_SUCCEED_THEN_CLAIM_SQL, params)
    values = dict(zip(names, row, strict=True))
    if values["succeeded_event_id"] is None:
        status = DISCARDED
    else:
        status = Status.SUCCEEDED
        event_announce(
            values["succeeded_event_id"],
            "job:succeeded",
            job_id=job.id,
            data=values["succeeded_event_data"],
            created_at=now,
        )
    return status, _claimed_job(names, row, now) if values["id"] is not None else None


def _lease(now):
    return now + timedelta(seconds=settings.JOBS_LEASE_SECONDS)


def _claimed_job(names: list[str], row: tuple, now) -> Job:
    """The Job a claim statement returned, its job:started event announced."""
    values = dict(zip(names, row, strict=True))
    job = model_from_row(Job, names, row)
    event_announce(
        values["started_event_id"], "job:started", job_id=job.id, data=values["started_event_data"], created_at=now
    )
    return job


def _claim_with_orm(worker: str, cfg: JobsSettings, now) -> Job | None:
    with transaction.atomic():
        slot = _free_slot(cfg.queue.maxConcurrent)
        if slot is None:
            if AdmissionSlot.objects.filter(number=cfg.queue.maxConcurrent).exists():
                return None
            slots_ensure(cfg.queue.maxConcurrent)  # a new database, or the limit grew
            slot = _free_slot(cfg.queue.maxConcurrent)
            if slot is None:
                return None
        job = _next_due_job(now)
        if job is None:
            return None
        lease = _lease(now)
        job.status = Status.RUNNING
        job.attempts += 1
        job.started_at = now
        job.updated_at = now
        job.worker = worker
        job.lease_expires_at = lease
        job.save(update_fields=["status", "attempts", "started_at", "updated_at", "worker", "lease_expires_at"])
        slot.job_id, slot.worker, slot.claimed_at, slot.lease_expires_at = job.id, worker, now, lease
        slot.save(update_fields=["job_id", "worker", "claimed_at", "lease_expires_at"])
        event_emit("job:started", job=job, worker=worker, attempt=job.attempts)
    return job


def _return_to_outbox(now) -> None:
    """While disabled a wake-up admits nothing and is gone: hand the due jobs back to
    the outbox, so that enabling publishes them at once (reconcile), instead of after
    the lost-message sweep (JOBS_REPUBLISH_SECONDS)."""
    Job.objects.due(now).filter(published_at__isnull=False).update(published_at=None)


def jobs_return_to_outbox() -> None:
    """A wake-up this worker cannot use (it is shutting down): the due jobs' wake-ups are
    published again by the next reconciler round, not after the lost-message sweep."""
    _return_to_outbox(timezone.now())


def slot_release(job_id, *, worker: str | None = None) -> int:
    """The job's code has returned (or its worker is gone): its slot is free again."""
    held = AdmissionSlot.objects.filter(job_id=job_id)
    if worker is not None:
        held = held.filter(worker=worker)
    return slots_free(held)


def slots_free(slots) -> int:
    """Empty these slots (a queryset of AdmissionSlot): the one way a slot is given up."""
    return slots.update(job_id=None, worker="", claimed_at=None, lease_expires_at=None)
