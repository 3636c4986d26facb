"""Every read of every door: stats, health, approvals, lists and one job.

The console, the API and the CLI read through these functions only, and shape
what they get with ``jobs.representations``.

``system_health`` answers in the runbook's shape (health.data.jobs.queue / store
/ worker) so runbook snippets translate one to one.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from jobs.jobsconfig import JobsSettings
from jobs.models import (
    AdmissionSlot,
    AuditEntry,
    BackgroundOperation,
    DLQEntry,
    Event,
    Job,
    Priority,
    Status,
    WorkerHeartbeat,
)
from jobs.services.errors import InvalidInput, NotFound


def store_stats() -> dict[str, int]:
    """Counts by status in one GROUP BY: {queued, running, waiting_approval, ..., total}."""
    counts = {status.value: 0 for status in Status}
    for row in Job.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts.values())
    return counts


def utilization_percent(queued: int, max_queue_size: int) -> float:
    return round(queued * 100 / max_queue_size, 1)


def queue_stats(cfg: JobsSettings, store: dict[str, int] | None = None) -> dict[str, Any]:
    store = store if store is not None else store_stats()
    utilization = utilization_percent(store["queued"], cfg.queue.maxQueueSize)
    return {
        "queued": store["queued"],
        "running": store["running"],
        "dlq": DLQEntry.objects.count(),
        "backpressureActive": utilization >= cfg.queue.backpressureThreshold,
        "utilizationPercent": utilization,
        "maxConcurrent": cfg.queue.maxConcurrent,
        "maxQueueSize": cfg.queue.maxQueueSize,
        "backpressureThreshold": cfg.queue.backpressureThreshold,
    }


def alive_cutoff():
    """Workers seen after this instant count as alive (three missed heartbeats)."""
    return timezone.now() - timedelta(seconds=settings.JOBS_HEARTBEAT_SECONDS * 3)


def workers_alive():
    return WorkerHeartbeat.objects.filter(last_seen__gte=alive_cutoff())


def workers_listed(limit: int = 200) -> list[WorkerHeartbeat]:
    """Worker rows, newest seen first, each with ``alive``, ``uptime_ms`` and ``current_job``
    (the oldest job it holds a slot for: a process of the threads pool may run several)."""
    cutoff = alive_cutoff()
    now = timezone.now()
    holding = AdmissionSlot.objects.filter(worker=OuterRef("name"), job_id__isnull=False).order_by("claimed_at")
    workers: list[WorkerHeartbeat] = list(
        WorkerHeartbeat.objects.annotate(current_job=Subquery(holding.values("job_id")[:1])).order_by("-last_seen")[
            :limit
        ]
    )
    for worker in workers:
        worker.alive = worker.last_seen >= cutoff
        worker.uptime_ms = max(0, int((now - worker.started_at).total_seconds() * 1000)) if worker.alive else 0
    return workers


def worker_stats(cfg: JobsSettings) -> dict[str, Any]:
    """The runbook's worker.getStats(), over every live worker process."""
    alive = workers_alive()
    totals = alive.aggregate(
        n=Count("name"),
        processed=Sum("processed"),
        succeeded=Sum("succeeded"),
        failed=Sum("failed"),
        oldest=Min("started_at"),
        last_seen=Max("last_seen"),
    )
    now = timezone.now()
    current = list(
        AdmissionSlot.objects.filter(job_id__isnull=False, worker__in=alive.values("name"))
        .order_by("claimed_at")
        .values_list("job_id", flat=True)
    )
    return {
        "running": cfg.worker.enabled and totals["n"] > 0,
        "enabled": cfg.worker.enabled,
        "workers": totals["n"],
        "currentJob": str(current[0]) if current else None,
        "currentJobs": [str(job_id) for job_id in current],
        "processed": totals["processed"] or 0,
        "succeeded": totals["succeeded"] or 0,
        "failed": totals["failed"] or 0,
        "uptimeMs": int((now - totals["oldest"]).total_seconds() * 1000) if totals["oldest"] else 0,
    }


@dataclass(frozen=True)
class HealthIssue:
    code: str
    message: str


def health_issues(queue: dict[str, Any]) -> list[HealthIssue]:
    issues = []
    if queue["backpressureActive"]:
        issues.append(HealthIssue("backpressure", f"Backpressure active ({queue['utilizationPercent']}% of the queue)"))
    if queue["dlq"] > 10:
        issues.append(HealthIssue("dlq", f"DLQ has {queue['dlq']} entries"))
    if queue["utilizationPercent"] > 90:
        issues.append(HealthIssue("utilization", f"High queue utilization: {queue['utilizationPercent']}%"))
    return issues


def system_health(cfg: JobsSettings) -> dict[str, Any]:
    store = store_stats()
    queue = queue_stats(cfg, store)
    issues = health_issues(queue)
    return {
        "status": "degraded" if issues else "healthy",
        "issues": [issue.message for issue in issues],
        "data": {"jobs": {"store": store, "queue": queue, "worker": worker_stats(cfg)}},
    }


def low_priority_queued():
    """What backpressure relief cancels: queued low-priority jobs."""
    return Job.objects.queued().filter(priority=Priority.LOW)


def waiting_approval_jobs():
    return Job.objects.waiting().order_by("approval_expires_at", "created_at")


def expiring_jobs(cfg: JobsSettings):
    """Waiting jobs whose approval expires within approval.expiryWarningHours."""
    horizon = timezone.now() + timedelta(hours=cfg.approval.expiryWarningHours)
    return waiting_approval_jobs().filter(approval_expires_at__lte=horizon)


def job_search(
    *, status: str | None = None, priority: str | None = None, entrypoint: str | None = None, q: str | None = None
):
    """Jobs filtered as the console's Jobs page and GET /api/jobs filter them.

    ``q`` matches an id (exactly), a jobKey (prefix) or lastError (contains).
    """
    jobs = Job.objects.all()
    if status:
        if status not in Status.values:
            raise InvalidInput(f"status: must be one of {', '.join(Status.values)}")
        jobs = jobs.filter(status=status)
    if priority:
        try:
            jobs = jobs.filter(priority=Priority.from_label(priority))
        except ValueError as exc:
            raise InvalidInput(f"priority: {exc}") from None
    if entrypoint:
        jobs = jobs.filter(entrypoint=entrypoint)
    if q:
        q = q.strip()
        condition = Q(job_key__startswith=q) | Q(last_error__icontains=q)
        with contextlib.suppress(ValueError):
            condition |= Q(id=uuid.UUID(q))
        jobs = jobs.filter(condition)
    return jobs


def job_with_events(job_id, *, limit: int | None = None) -> tuple[Job, list[Event]]:
    """One job and its events, oldest first (the first ``limit`` of them); NotFound when absent."""
    job = Job.objects.select_related("retried_from").filter(id=job_id).first()
    if job is None:
        raise NotFound(f"job {job_id} not found")
    events = Event.objects.filter(job_id=job.id).order_by("id")
    return job, list(events[:limit] if limit else events)


def operation(operation_id) -> BackgroundOperation:
    """A background operation and its progress; NotFound when absent."""
    found = BackgroundOperation.objects.filter(id=operation_id).first()
    if found is None:
        raise NotFound(f"operation {operation_id} not found")
    return found


def dlq_entries(*, reason: str | None = None, fingerprint: str | None = None):
    entries = DLQEntry.objects.select_related("job")
    if reason:
        entries = entries.filter(reason__icontains=reason)
    if fingerprint:
        entries = entries.filter(fingerprint=fingerprint)
    return entries


class DlqGroup(TypedDict):
    """One row of dlq_groups."""

    fingerprint: str
    count: int
    first: datetime
    last: datetime
    sample: str


def dlq_groups() -> list[DlqGroup]:
    """DLQ entries grouped by error fingerprint, largest group first, with a sample error."""
    groups = list(
        DLQEntry.objects.order_by()
        .values("fingerprint")
        .annotate(count=Count("job"), first=Min("added_at"), last=Max("added_at"), sample=Max("last_error"))
        .order_by("-count", "fingerprint")
    )
    return groups


def events_feed(*, after: int | None = None, type: str | None = None, limit: int = 100):
    """Events after an id (oldest first, for a live feed) or the latest ones (newest first)."""
    events = Event.objects.all()
    if type:
        events = events.filter(type=type)
    if after is not None:
        return list(events.filter(id__gt=after).order_by("id")[:limit])
    return list(events.order_by("-id")[:limit])


def audit_entries(
    *, actor: str | None = None, action: str | None = None, object_id: str | None = None, since=None, until=None
):
    entries = AuditEntry.objects.all()
    if actor:
        entries = entries.filter(actor=actor)
    if action:
        entries = entries.filter(action=action)
    if object_id:
        entries = entries.filter(object_ids__contains=[object_id])
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return entries


def event_throughput(*, minutes: int = 60, now=None) -> list[dict[str, Any]]:
    """Finished jobs per minute over the last ``minutes``, oldest first, zeros included.

    One GROUP BY over the created_at index; the dashboard draws it as bars.
    """
    from django.db.models.functions import TruncMinute

    now = (now or timezone.now()).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes - 1)
    rows = (
        Event.objects.filter(created_at__gte=start, type__in=["job:succeeded", "job:failed"])
        .annotate(minute=TruncMinute("created_at"))
        .order_by()
        .values("minute", "type")
        .annotate(n=Count("id"))
    )
    counts: dict[Any, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["minute"], {})[row["type"]] = row["n"]
    series = []
    for i in range(minutes):
        minute = start + timedelta(minutes=i)
        bucket = counts.get(minute, {})
        series.append(
            {"minute": minute, "succeeded": bucket.get("job:succeeded", 0), "failed": bucket.get("job:failed", 0)}
        )
    return series
