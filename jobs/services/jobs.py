"""Submitting, canceling and force-failing jobs, and the emergency procedures."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs import entrypoints
from jobs.models import ACTIVE_STATUSES, DLQEntry, Job, Priority, Status
from jobs.representations import job_snapshot
from jobs.selectors import utilization_percent
from jobs.services.audit import Actor, audit_job_change, audit_record, authorize
from jobs.services.config import config_get
from jobs.services.dlq import dlq_add
from jobs.services.errors import Backpressure, Conflict, InvalidInput, NotFound
from jobs.services.events import event_emit, events_emit_many
from jobs.services.export import export_jobs
from jobs.services.publishing import publish_after_commit

CLEAR_ALL_CONFIRMATION = "clear all jobs"


def default_job_key(entrypoint: str, params: dict[str, Any]) -> str:
    """entrypoint + hash of params, as the original system derived jobKey."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return f"{entrypoint}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def _validated_submission(
    entrypoint: Any, params: Any, priority: Any, max_attempts: Any, issue_id: Any, job_key: Any, default_attempts: int
) -> dict[str, Any]:
    if not isinstance(entrypoint, str) or not entrypoint:
        raise InvalidInput("entrypoint: required")
    if entrypoints.get(entrypoint) is None:
        raise InvalidInput(f"entrypoint: unknown entry point {entrypoint!r}", {"known": entrypoints.names()})
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise InvalidInput("params: must be a JSON object")
    try:
        rank = Priority.from_label(priority or "normal")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"priority: {exc}") from None
    if max_attempts is None:
        max_attempts = default_attempts
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or not 1 <= max_attempts <= 100:
        raise InvalidInput("maxAttempts: must be a whole number from 1 to 100")
    issue_id = "" if issue_id is None else str(issue_id).strip()
    if len(issue_id) > 200:
        raise InvalidInput("issueId: at most 200 characters")
    if job_key is not None and (not isinstance(job_key, str) or not job_key.strip() or len(job_key) > 255):
        raise InvalidInput("jobKey: must be a non-empty string of at most 255 characters")
    return {
        "entrypoint": entrypoint,
        "params": params,
        "priority": rank,
        "max_attempts": max_attempts,
        "issue_id": issue_id,
        "job_key": job_key.strip() if job_key else default_job_key(entrypoint, params),
    }


# Key of the transaction-level advisory lock that makes "is there room?" and the
# insert of the queued job one step (any constant unique to this purpose).
QUEUE_ROOM_LOCK = 0x4A4F4253


def ensure_room_in_queue(cfg=None, *, wanted: int = 1) -> int:
    """Refuse (429) while backpressure is active, as DESIGN.md asks.

    Call it inside the transaction that inserts the job: it first takes a lock held
    until that transaction ends, so concurrent submissions cannot all see room and
    together overshoot the threshold (and maxQueueSize). Every submission already
    serialises on the audit chain's head row, so the lock costs no extra throughput.
    SQLite needs no lock: its write transactions are IMMEDIATE, one at a time.
    Returns how many of ``wanted`` new jobs fit before the threshold (at least 1).
    """
    cfg = cfg or config_get()
    if connection.in_atomic_block and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [QUEUE_ROOM_LOCK])
    queued = Job.objects.queued().count()  # index-only; no GROUP BY on the submit path
    utilization = utilization_percent(queued, cfg.queue.maxQueueSize)
    if utilization >= cfg.queue.backpressureThreshold:
        raise Backpressure(
            f"Backpressure active: the queue is {utilization}% full "
            f"(threshold {cfg.queue.backpressureThreshold}%); try again later",
            retry_after=max(1, cfg.worker.retryDelayMs // 1000),
            detail={"utilizationPercent": utilization, "queued": queued},
        )
    room = 1
    while (
        room < wanted and utilization_percent(queued + room, cfg.queue.maxQueueSize) < cfg.queue.backpressureThreshold
    ):
        room += 1
    return room


def job_submit(
    *,
    actor: Actor,
    entrypoint: Any,
    params: Any = None,
    priority: Any = "normal",
    max_attempts: Any = None,
    issue_id: Any = None,
    job_key: Any = None,
) -> tuple[Job, bool]:
    """Create a job, or return the active one with the same jobKey. Returns (job, created)."""
    authorize(actor, "jobs.submit_job", action="job.submit", object_type="job")
    cfg = config_get()
    fields = _validated_submission(
        entrypoint, params, priority, max_attempts, issue_id, job_key, cfg.worker.maxAttempts
    )
    existing = Job.objects.active().filter(job_key=fields["job_key"]).first()
    if existing is not None:
        return existing, False
    now = timezone.now()
    waits = bool(fields["issue_id"])
    job = Job(
        **fields,
        status=Status.WAITING_APPROVAL if waits else Status.QUEUED,
        approval_expires_at=now + timedelta(hours=cfg.approval.defaultTtlHours) if waits else None,
        submitted_by=actor.username or actor.name,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
        published_at=None if waits else now,
    )
    try:
        with transaction.atomic():
            ensure_room_in_queue(cfg)
            job.save(force_insert=True)
            event_emit("job:submitted", job=job, entrypoint=job.entrypoint, priority=job.priority_label)
            if waits:
                event_emit("job:waiting_approval", job=job, issueId=job.issue_id)
            audit_record(actor, action="job.submit", object_type="job", object_ids=[job.id], after=job_snapshot(job))
            if not waits:
                publish_after_commit([job.id])
    except IntegrityError:
        # Another request created the same jobKey between our check and insert.
        existing = Job.objects.active().filter(job_key=fields["job_key"]).first()
        if existing is None:
            raise
        return existing, False
    return job, True


def get_job_for_update(job_id) -> Job:
    """Lock and return the job, or raise NotFound. Call inside a transaction."""
    try:
        return Job.objects.select_for_update().get(id=job_id)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"job {job_id} not found") from None


def _lock_active(job_id) -> Job:
    """Lock a job that has not ended yet; 409 when it has. Call inside a transaction."""
    job = get_job_for_update(job_id)
    if job.is_final:
        raise Conflict(f"job {job.id} is already {job.status}")
    return job


def _require_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason: required")
    return reason.strip()


def job_cancel(*, actor: Actor, job_id, reason: str) -> Job:
    """Cancel a queued, waiting or running job; 409 when it has already ended."""
    authorize(actor, "jobs.cancel_job", action="job.cancel", object_type="job", object_ids=[job_id])
    reason = _require_reason(reason)
    with transaction.atomic():
        job = _lock_active(job_id)
        before = job_snapshot(job)
        _mark_final(job, Status.CANCELED, reason=reason)
        event_emit("job:canceled", job=job, reason=reason, by=actor.name)
        audit_job_change(actor, action="job.cancel", job=job, before=before, reason=reason)
    return job


def _mark_final(job: Job, status: str, *, reason: str = "", error: str | None = None) -> None:
    now = timezone.now()
    job.status = status
    job.status_reason = reason
    if error is not None:
        job.last_error = error
    job.completed_at = now
    job.updated_at = now
    job.lease_expires_at = None
    job.save(update_fields=["status", "status_reason", "last_error", "completed_at", "updated_at", "lease_expires_at"])


def jobs_cancel(*, actor: Actor, job_ids: list, reason: str, action: str = "jobs.cancel") -> list[str]:
    """Cancel several jobs in one transaction and one audit entry; skips ended ones."""
    authorize(actor, "jobs.cancel_job", action=action, object_type="job", object_ids=job_ids)
    reason = _require_reason(reason)
    with transaction.atomic():
        jobs = list(Job.objects.select_for_update().filter(id__in=job_ids, status__in=ACTIVE_STATUSES))
        return _cancel_locked(actor, jobs, reason, action)


def _cancel_locked(actor: Actor, jobs: list[Job], reason: str, action: str) -> list[str]:
    now = timezone.now()
    ids = [job.id for job in jobs]
    Job.objects.filter(id__in=ids).update(
        status=Status.CANCELED, status_reason=reason, completed_at=now, updated_at=now, lease_expires_at=None
    )
    events_emit_many("job:canceled", jobs, reason=reason, by=actor.name)
    audit_record(
        actor,
        action=action,
        object_type="job",
        object_ids=ids,
        reason=reason,
        before={"count": len(ids)},
        after={"status": Status.CANCELED, "count": len(ids)},
    )
    return [str(job_id) for job_id in ids]


def low_priority_queued():
    return Job.objects.queued().filter(priority=Priority.LOW)


def jobs_cancel_low_priority(*, actor: Actor, reason: str = "Backpressure relief") -> int:
    """The runbook's backpressure relief: cancel every queued low-priority job."""
    action = "queue.cancel_low_priority"
    authorize(actor, "jobs.cancel_job", action=action, object_type="job")
    reason = _require_reason(reason)
    with transaction.atomic():
        jobs = list(low_priority_queued().select_for_update(skip_locked=True).only("id"))
        return len(_cancel_locked(actor, jobs, reason, action))


def job_force_fail(*, actor: Actor, job_id, reason: str) -> Job:
    """Fail an active job now; it goes to the DLQ so it can be retried later."""
    authorize(actor, "jobs.force_fail_job", action="job.force_fail", object_type="job", object_ids=[job_id])
    reason = _require_reason(reason)
    with transaction.atomic():
        job = _lock_active(job_id)
        before = job_snapshot(job)
        _force_fail_locked([job], reason)
        audit_job_change(actor, action="job.force_fail", job=job, before=before, reason=reason)
    return job


def _force_fail_locked(jobs: list[Job], reason: str) -> None:
    for job in jobs:
        _mark_final(job, Status.FAILED, reason=reason, error=reason)
        event_emit("job:failed", job=job, error=reason, forced=True)
        dlq_add(job, reason=f"Force-failed: {reason}")


def jobs_force_fail_running(*, actor: Actor, reason: str) -> int:
    """Emergency: fail every running job (runbook: Force Fail All Running Jobs)."""
    action = "emergency.force_fail_running"
    authorize(actor, "jobs.emergency", action=action, object_type="job")
    reason = _require_reason(reason)
    with transaction.atomic():
        jobs = list(Job.objects.running().select_for_update())
        _force_fail_locked(jobs, reason)
        audit_record(
            actor,
            action=action,
            object_type="job",
            object_ids=[job.id for job in jobs],
            reason=reason,
            before={"status": Status.RUNNING, "count": len(jobs)},
            after={"status": Status.FAILED, "count": len(jobs)},
        )
    return len(jobs)


def jobs_clear_all(*, actor: Actor, reason: str, confirm: str) -> dict[str, Any]:
    """Emergency: delete every job, after writing them all to a JSONL export."""
    action = "emergency.clear_all"
    authorize(actor, "jobs.emergency", action=action, object_type="job")
    reason = _require_reason(reason)
    if confirm != CLEAR_ALL_CONFIRMATION:
        raise InvalidInput(f'confirm: type "{CLEAR_ALL_CONFIRMATION}" to clear all jobs')
    with transaction.atomic():
        # of=("self",): PostgreSQL cannot lock the outer-joined DLQ side of the export query.
        jobs = Job.objects.select_for_update(of=("self",)).order_by("created_at", "id")
        export, ids = export_jobs(jobs.select_related("dlq_entry"), label="clear-all")
        dlq_count = DLQEntry.objects.count()
        Job.objects.filter(id__in=ids).update(retried_from=None)
        Job.objects.filter(id__in=ids).delete()
        audit_record(
            actor,
            action=action,
            object_type="job",
            object_ids=ids,
            reason=reason,
            before={"jobs": len(ids), "dlq": dlq_count},
            after={"jobs": 0, "export": str(export)},
        )
    return {"removed": len(ids), "export": str(export)}
