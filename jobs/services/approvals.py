"""Jobs waiting for approval: pausing, approving, rejecting, expiring, force checks.

Expiry is always checked before approval: a job whose approvalExpiresAt has
passed fails with "Approval TTL expired" even if its issue carries a label.
Where approvals come from (GitHub labels) is behind ``approval_source``.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.engine.wakeups import wake_after_commit
from jobs.models import Job, Status
from jobs.representations import job_snapshot
from jobs.services.audit import Actor, audit_job_change, deny, required_reason
from jobs.services.errors import Conflict, Unavailable
from jobs.services.events import event_emit

logger = logging.getLogger("jobs.approvals")

EXPIRED_ERROR = "Approval TTL expired"


class ApprovalSource(Protocol):
    """Tells whether a job's issue is approved, and hears about expiries."""

    def approved_by(self, job: Job) -> str | None:
        """The login that approved the job's issue, or None. Raises on errors (never 'approved')."""

    def on_expired(self, job: Job) -> None:
        """Called after commit when a job's approval expired (comment on and close the issue)."""

    def on_approved_in_console(self, job: Job, actor: Actor) -> None:
        """Called after commit when an approver approved in the console (label the issue)."""

    def on_approved_by_label(self, job: Job, actor: Actor) -> None:
        """Called after commit when the issue's label approved the job (comment on the issue)."""


class NoApprovalSource:
    """Used when GitHub is not configured: only console approvals exist."""

    def approved_by(self, job: Job) -> str | None:
        return None

    def on_expired(self, job: Job) -> None:
        pass

    def on_approved_in_console(self, job: Job, actor: Actor) -> None:
        pass

    def on_approved_by_label(self, job: Job, actor: Actor) -> None:
        pass


def approval_source() -> ApprovalSource:
    """The configured source of approvals (GitHub when GITHUB_TOKEN and GITHUB_REPO are set)."""
    try:
        from jobs.github.source import github_approval_source
    except ImportError:
        return NoApprovalSource()
    return github_approval_source() or NoApprovalSource()


def _lock_waiting(job_id) -> Job:
    from jobs.services.lifecycle import get_job_for_update

    job = get_job_for_update(job_id)
    if job.status != Status.WAITING_APPROVAL:
        raise Conflict(f"job {job.id} is {job.status}, not waiting for approval")
    return job


def _refuse_own_job_early(actor: Actor, job_id, action: str) -> None:
    """The same check before the transaction: a refusal raised inside it would roll back its own
    "denied" audit entry. submittedBy and importedBy never change, so reading them unlocked is safe."""
    try:
        job = Job.objects.filter(id=job_id).only("id", "submitted_by", "imported_by").first()
    except (ValueError, TypeError, ValidationError):
        return  # an id that names no job: the locked lookup answers 404
    if job is not None:
        _refuse_own_job(actor, job, action)


def _refuse_own_job(actor: Actor, job: Job, action: str) -> None:
    # Four eyes: whoever brought the job in, by submitting it or by importing it
    # (an import names any submittedBy it likes), may not also let it through.
    if actor.user is not None and actor.username in {job.submitted_by, job.imported_by} - {""}:
        deny(
            actor,
            action=action,
            object_type="job",
            object_ids=[job.id],
            reason="approvers cannot approve or reject a job they submitted or imported",
        )


def job_approve(*, actor: Actor, job_id, reason: str = "") -> Job:
    """waiting_approval -> queued, by an approver (console, API) or a GitHub label."""
    action = "job.approve"
    _refuse_own_job_early(actor, job_id, action)
    with transaction.atomic():
        job = _lock_waiting(job_id)
        _refuse_own_job(actor, job, action)
        if _expire_locked(job, actor=Actor.system()):
            return job
        before = job_snapshot(job)
        now = timezone.now()
        job.status = Status.QUEUED
        job.approved_by = actor.name
        job.approved_at = now
        job.next_attempt_at = now
        job.published_at = now
        job.updated_at = now
        job.save(
            update_fields=["status", "approved_by", "approved_at", "next_attempt_at", "published_at", "updated_at"]
        )
        event_emit("job:approved", job=job, by=actor.name, source=actor.source)
        audit_job_change(actor, action=action, job=job, before=before, reason=reason)
        wake_after_commit([job.id])
        if actor.source != "github":
            transaction.on_commit(lambda: _notify(approval_source().on_approved_in_console, job, actor))
        else:
            transaction.on_commit(lambda: _notify(approval_source().on_approved_by_label, job, actor))
    return job


def job_reject(*, actor: Actor, job_id, reason: str) -> Job:
    """waiting_approval -> canceled, by an approver."""
    from jobs.services.lifecycle import _mark_final

    action = "job.reject"
    reason = required_reason(reason)
    _refuse_own_job_early(actor, job_id, action)
    with transaction.atomic():
        job = _lock_waiting(job_id)
        _refuse_own_job(actor, job, action)
        before = job_snapshot(job)
        _mark_final(job, Status.CANCELED, reason=f"Rejected: {reason}")
        event_emit("job:canceled", job=job, reason=f"Rejected: {reason}", by=actor.name)
        audit_job_change(actor, action=action, job=job, before=before, reason=reason)
    return job


def _expire_locked(job: Job, *, actor: Actor, now=None) -> bool:
    """Fail a locked waiting job whose approval TTL passed. Returns whether it expired."""
    from jobs.services.lifecycle import _mark_final

    now = now or timezone.now()
    if job.approval_expires_at is None or job.approval_expires_at > now:
        return False
    before = job_snapshot(job)
    _mark_final(job, Status.FAILED, error=EXPIRED_ERROR)
    event_emit("job:expired", job=job, issueId=job.issue_id, expiredAt=job.approval_expires_at.isoformat())
    audit_job_change(actor, action="job.expire", job=job, before=before, reason=EXPIRED_ERROR)
    transaction.on_commit(lambda: _notify(approval_source().on_expired, job))
    return True


def approvals_expire_due(*, now=None) -> int:
    """Expire every waiting job past its approval TTL (run by the reconciler)."""
    now = now or timezone.now()
    expired = 0
    for job_id in Job.objects.waiting().filter(approval_expires_at__lte=now).values_list("id", flat=True):
        with transaction.atomic():
            job = (
                Job.objects.select_for_update(skip_locked=True)
                .filter(id=job_id, status=Status.WAITING_APPROVAL)
                .first()
            )
            if job is not None and _expire_locked(job, actor=Actor.system(), now=now):
                expired += 1
    return expired


def expires_in_hours(job: Job, now=None) -> float | None:
    if job.approval_expires_at is None:
        return None
    now = now or timezone.now()
    return round((job.approval_expires_at - now).total_seconds() / 3600, 3)


def approval_force_check(*, actor: Actor, job_id) -> dict[str, Any]:
    """The runbook's watcher.forceCheck(jobId): expiry first, then the approval label."""
    with transaction.atomic():
        job = _lock_waiting(job_id)
        if _expire_locked(job, actor=Actor.system()):
            return {"approved": False, "expired": True, "expiresInHours": 0}
    source = approval_source()
    if isinstance(source, NoApprovalSource):
        # "Not approved yet" would be a guess: nothing was asked.
        raise Unavailable(
            "could not check: GitHub approvals are off (set GITHUB_TOKEN and GITHUB_REPO); "
            "approve or reject the job here instead"
        )
    login = source.approved_by(job)
    if login:
        job_approve(actor=Actor.github(login), job_id=job.id, reason="approval label on the issue (force check)")
        return {"approved": True, "expired": False, "expiresInHours": expires_in_hours(job)}
    return {"approved": False, "expired": False, "expiresInHours": expires_in_hours(job)}


def _notify(callback, *args) -> None:
    try:
        callback(*args)
    except Exception:  # GitHub being down must not undo or block an approval
        logger.exception("approval source notification failed")
