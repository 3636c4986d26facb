"""Ending jobs before their time: cancel, force-fail, and the emergency procedures."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs import selectors
from jobs.models import ACTIVE_STATUSES, DLQEntry, Job, Status
from jobs.representations import job_snapshot
from jobs.services.audit import Actor, audit_job_change, audit_record, required_reason
from jobs.services.backpressure import hold_submissions
from jobs.services.dlq import dlq_add_many
from jobs.services.errors import Conflict, NotFound
from jobs.services.events import event_emit, events_emit_many
from jobs.services.export import export_jobs


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


def job_cancel(*, actor: Actor, job_id, reason: str) -> Job:
    """Cancel a queued, waiting or running job; 409 when it has already ended."""
    reason = required_reason(reason)
    with transaction.atomic():
        job = _lock_active(job_id)
        before = job_snapshot(job)
        _mark_final(job, Status.CANCELED, reason=reason)
        event_emit("job:canceled", job=job, reason=reason, by=actor.name)
        audit_job_change(actor, action="job.cancel", job=job, before=before, reason=reason)
    return job


def _mark_final(job: Job, status: str, *, reason: str = "", error: str | None = None) -> None:
    _mark_final_many([job], status, reason=reason, error=error)


def _mark_final_many(jobs: list[Job], status: str, *, reason: str = "", error: str | None = None) -> None:
    """End locked jobs with one UPDATE, and say so on the objects too (the DLQ entries and audit read them)."""
    now = timezone.now()
    ended: dict[str, Any] = {
        "status": status,
        "status_reason": reason,
        "completed_at": now,
        "updated_at": now,
        "lease_expires_at": None,
    }
    if error is not None:
        ended["last_error"] = error
    for job in jobs:
        for field, value in ended.items():
            setattr(job, field, value)
    Job.objects.filter(id__in=[job.id for job in jobs]).update(**ended)


def jobs_cancel(
    *, actor: Actor, job_ids: list, reason: str, action: str = "jobs.cancel", context: dict | None = None
) -> list[str]:
    """Cancel several jobs in one transaction and one audit entry; skips ended ones.

    ``context`` goes into the audit entry's ``after`` (a bulk run names its selection).
    """
    reason = required_reason(reason)
    with transaction.atomic():
        jobs = list(Job.objects.select_for_update().filter(id__in=job_ids, status__in=ACTIVE_STATUSES).order_by("id"))
        return _cancel_locked(actor, jobs, reason, action, context)


def _cancel_locked(actor: Actor, jobs: list[Job], reason: str, action: str, context: dict | None = None) -> list[str]:
    ids = [job.id for job in jobs]
    _mark_final_many(jobs, Status.CANCELED, reason=reason)
    events_emit_many("job:canceled", jobs, reason=reason, by=actor.name)
    audit_record(
        actor,
        action=action,
        object_type="job",
        object_ids=ids,
        reason=reason,
        before={"count": len(ids)},
        after={"status": Status.CANCELED, "count": len(ids), **(context or {})},
    )
    return [str(job_id) for job_id in ids]


def jobs_cancel_low_priority(*, actor: Actor, reason: str = "Backpressure relief") -> int:
    """The runbook's backpressure relief: cancel every queued low-priority job."""
    action = "queue.cancel_low_priority"
    reason = required_reason(reason)
    with transaction.atomic():
        jobs = list(selectors.low_priority_queued().select_for_update(skip_locked=True).only("id"))
        return len(_cancel_locked(actor, jobs, reason, action))


def job_force_fail(*, actor: Actor, job_id, reason: str) -> Job:
    """Fail an active job now; it goes to the DLQ so it can be retried later."""
    reason = required_reason(reason)
    with transaction.atomic():
        job = _lock_active(job_id)
        before = job_snapshot(job)
        _force_fail_locked([job], reason)
        audit_job_change(actor, action="job.force_fail", job=job, before=before, reason=reason)
    return job


def _force_fail_locked(jobs: list[Job], reason: str) -> None:
    """Fail locked jobs into the DLQ, in a few statements however many there are."""
    _mark_final_many(jobs, Status.FAILED, reason=reason, error=reason)
    events_emit_many("job:failed", jobs, error=reason, forced=True)
    dlq_add_many(jobs, reason=f"Force-failed: {reason}")


def jobs_force_fail(*, actor: Actor, job_ids: list, reason: str, action: str, context: dict | None = None) -> list[str]:
    """Force-fail the jobs of ``job_ids`` not ended yet, in one transaction and one audit entry; skips ended ones.

    Each goes to the DLQ as a force-failed job does. ``context`` goes into the audit entry's ``after``.
    """
    chosen = Job.objects.filter(id__in=job_ids, status__in=ACTIVE_STATUSES).order_by("id")
    jobs = _force_fail_audited(actor, chosen, reason=reason, action=action, before={}, after=context or {})
    return [str(job.id) for job in jobs]


def jobs_force_fail_running(*, actor: Actor, reason: str) -> int:
    """Emergency: fail every running job (runbook: Force Fail All Running Jobs)."""
    running = Job.objects.running()
    before = {"status": Status.RUNNING}
    return len(_force_fail_audited(actor, running, reason=reason, action="emergency.force_fail_running", before=before))


def _force_fail_audited(actor: Actor, chosen, *, reason: str, action: str, before: dict, after: dict | None = None):
    """Lock ``chosen``, fail each into the DLQ, and write one audit entry naming them all."""
    reason = required_reason(reason)
    with transaction.atomic():
        jobs = list(chosen.select_for_update())
        _force_fail_locked(jobs, reason)
        audit_record(
            actor,
            action=action,
            object_type="job",
            object_ids=[job.id for job in jobs],
            reason=reason,
            before={**before, "count": len(jobs)},
            after={"status": Status.FAILED, "count": len(jobs), **(after or {})},
        )
    return jobs


def refuse_while_jobs_run() -> None:
    """Clear all is refused (409) while a job runs.

    Deleting a running job's row leaves its code running, and its export line says
    ``running``: cleared and imported again, the job could run a second time beside
    itself. Disabling the job system (no new starts) and force-failing what runs
    first ends every run in the database; the export then says ``failed``.
    """
    running = Job.objects.running().count()
    if running:
        raise Conflict(
            f"{running} job{'s' if running != 1 else ''} running: clear all would delete "
            f"{'them' if running != 1 else 'it'} while the code runs. Disable the job system "
            "and force-fail running jobs first, then clear all.",
            {"running": running},
        )


def jobs_clear_all(*, actor: Actor, reason: str) -> dict[str, Any]:
    """Emergency: delete every job, after writing them all to a JSONL export."""
    action = "emergency.clear_all"
    reason = required_reason(reason)
    refuse_while_jobs_run()  # at once, before any lock is taken
    with transaction.atomic():
        hold_submissions()
        # Every row locked before anything is counted or written: a claim skips locked
        # rows, so no job starts between the check below and the delete. Streamed, so
        # a big store's ids are not all held in memory at once.
        for _ in Job.objects.select_for_update().values_list("id", flat=True).iterator(chunk_size=5000):
            pass
        refuse_while_jobs_run()
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
