"""Reads that are more than a filter: stats, health, approvals.

``system_health`` answers in the runbook's shape (health.data.jobs.queue / store
/ worker) so runbook snippets translate one to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from jobs.jobsconfig import JobsSettings
from jobs.models import DLQEntry, Job, Status, WorkerHeartbeat


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
    current = list(alive.exclude(current_job=None).values_list("current_job", flat=True))
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


def waiting_approval_jobs():
    return Job.objects.waiting().order_by("approval_expires_at", "created_at")


def expiring_jobs(cfg: JobsSettings):
    """Waiting jobs whose approval expires within approval.expiryWarningHours."""
    horizon = timezone.now() + timedelta(hours=cfg.approval.expiryWarningHours)
    return waiting_approval_jobs().filter(approval_expires_at__lte=horizon)
