"""Periodic repair: abandoned and timed-out runs, lost slots, approvals, lost wake-ups.

Safe to run in several places at once: every change is a compare-and-set.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.engine.admission import slot_release, slots_ensure, slots_free
from jobs.engine.outcomes import DISCARDED, job_fail_attempt
from jobs.engine.runner import TIMEOUT_ERROR
from jobs.engine.wakeups import publish, publish_operation
from jobs.jobsconfig import JobsSettings
from jobs.models import AdmissionSlot, BackgroundOperation, Job, WorkerHeartbeat
from jobs.services.approvals import approvals_expire_due
from jobs.services.audit import audit_verify_since_checkpoint
from jobs.services.audit_anchor import anchor_due
from jobs.services.bulk import selections_forget_expired
from jobs.services.config import config_get
from jobs.services.four_eyes import action_requests_expire_due
from jobs.services.health import health_record
from jobs.services.operations import operations_resume_abandoned, operations_resume_waiting
from jobs.services.rollups import rollups_compact
from jobs.services.tallies import tallies_compact

WORKER_LOST_ERROR = "Worker lost: no heartbeat within the lease"


def reconcile(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    cfg = config_get()
    slots_ensure(cfg.queue.maxConcurrent)
    report = {
        "recovered": _recover_abandoned(now),
        "slotsFreed": _free_lost_slots(now),
        "timedOut": _time_out_long_runs(now, cfg),
        "expired": approvals_expire_due(now=now),
        "requestsExpired": action_requests_expire_due(now),
        "selectionsForgotten": selections_forget_expired(now),
        "published": _publish_due(now, cfg),
        "operations": _restart_stalled_operations(now),
        "operationsResumed": operations_resume_abandoned(now),
        "operationsWaitingResumed": operations_resume_waiting(now),
        "talliesFolded": tallies_compact(),
        "rollupsFolded": rollups_compact(now=now),
        "auditAnchored": _anchor_audit_trail(now),
        # Last, so that it sees what this tick repaired: the incident timeline's health changes.
        "healthChanged": int(health_record() is not None),
    }
    WorkerHeartbeat.objects.filter(last_seen__lt=now - timedelta(days=1)).delete()
    return report


def _anchor_audit_trail(now) -> int:
    """Every JOBS_AUDIT_ANCHOR_SECONDS: verify what the trail gained and sign its heads outside the database."""
    if not anchor_due(now):
        return 0
    return int(audit_verify_since_checkpoint().ok)


def _recover_abandoned(now) -> int:
    """A running job whose lease ran out: its worker is gone. Retry it, or send it to the DLQ."""
    recovered = 0
    for job in Job.objects.running().filter(lease_expires_at__lt=now):
        with transaction.atomic():
            outcome = job_fail_attempt(job, worker=None, error=f"{WORKER_LOST_ERROR} ({job.worker})")
            if outcome != DISCARDED:
                slot_release(job.id, worker=job.worker)
                recovered += 1
    return recovered


def _free_lost_slots(now) -> int:
    """Slots whose worker stopped renewing them (killed while its job's code ran)."""
    return slots_free(AdmissionSlot.objects.filter(job_id__isnull=False, lease_expires_at__lt=now))


def _time_out_long_runs(now, cfg: JobsSettings) -> int:
    """Fail runs past maxJobRuntimeMs that their worker did not report (a blocked thread).

    The slot stays with the worker until the code returns, so the retry cannot
    start beside the run that is still going. A grace of one heartbeat lets the
    worker's own timer report it first.
    """
    cutoff = now - timedelta(milliseconds=cfg.worker.maxJobRuntimeMs, seconds=settings.JOBS_HEARTBEAT_SECONDS)
    overdue = Job.objects.running().filter(started_at__lt=cutoff)
    return sum(job_fail_attempt(job, worker=None, error=TIMEOUT_ERROR) != DISCARDED for job in overdue)


def _publish_due(now, cfg: JobsSettings) -> int:
    """Publish one wake-up per free slot for due jobs whose message may be lost."""
    if not cfg.worker.enabled:
        return 0
    free = AdmissionSlot.objects.filter(number__lte=cfg.queue.maxConcurrent, job_id__isnull=True).count()
    if free <= 0:
        return 0
    stale = now - timedelta(seconds=settings.JOBS_REPUBLISH_SECONDS)
    ids = list(
        Job.objects.due(now)
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=stale))
        .in_admission_order()
        .values_list("id", flat=True)[:free]
    )
    if not ids:
        return 0
    Job.objects.filter(id__in=ids).update(published_at=now)
    return publish([str(job_id) for job_id in ids])


def _restart_stalled_operations(now) -> int:
    """Publish again operations whose message never reached a worker (pending since they were
    asked for, or since they were resumed: ``updated_at``)."""
    stalled = BackgroundOperation.objects.filter(
        state=BackgroundOperation.State.PENDING, updated_at__lt=now - timedelta(seconds=settings.JOBS_REPUBLISH_SECONDS)
    ).values_list("id", flat=True)[:10]
    for operation_id in stalled:
        publish_operation(operation_id)
    return len(stalled)
