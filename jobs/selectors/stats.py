"""Counts and health: store, queue and worker stats, the runbook's system_health, throughput.

``system_health`` answers in the runbook's shape (health.data.jobs.queue / store
/ worker) so runbook snippets translate one to one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, Max, Min, OuterRef, Subquery, Sum
from django.utils import timezone

from jobs.jobsconfig import JobsSettings
from jobs.models import (
    AdmissionSlot,
    DLQEntry,
    Event,
    Job,
    Status,
    Tally,
    WorkerHeartbeat,
)


def job_total() -> int:
    """How many jobs the store holds, from the running counts."""
    return sum(count for name, count in tallies().items() if name.startswith("status:"))


def tallies() -> dict[str, int]:
    """Every running count by name (see models.Tally): ``status:<status>``, ``dlq``, ``event:<type>``, ``run:...``.

    One query over a table of a few dozen rows, whatever the size of the job table.
    On SQLite, which has no triggers to keep tallies, the counts are made by GROUP BY.
    """
    if connection.vendor != "postgresql":
        return _counted_tallies()
    rows = Tally.objects.order_by().values_list("name").annotate(total=Sum("n")).values_list("name", "total")
    return {name: int(total) for name, total in rows}


def _counted_tallies() -> dict[str, int]:
    counts = {f"status:{status}": n for status, n in Job.objects.order_by().values_list("status").annotate(Count("id"))}
    counts["dlq"] = DLQEntry.objects.count()
    for event_type, n in Event.objects.order_by().values_list("type").annotate(Count("id")):
        counts[f"event:{event_type}"] = n
    return counts


def store_stats(counts: Mapping[str, int] | None = None) -> dict[str, int]:
    """Jobs by status: {queued, running, waiting_approval, ..., total}."""
    counts = tallies() if counts is None else counts
    store = {status.value: counts.get(f"status:{status.value}", 0) for status in Status}
    store["total"] = sum(store.values())
    return store


def utilization_percent(queued: int, max_queue_size: int) -> float:
    return round(queued * 100 / max_queue_size, 1)


@dataclass(frozen=True)
class HeldSlot:
    """An admission slot a job holds: its job, whether its worker is alive, whether it still runs."""

    job_id: Any
    worker_alive: bool
    job_running: bool


def held_slots() -> list[HeldSlot]:
    """Every held slot (at most maxConcurrent), oldest claim first, in one query.

    A slot whose job no longer runs is held by a job that ended while its code still
    runs (canceled, force-failed, timed out or removed): the worker running the code
    is stopping it (within a heartbeat or two; a call blocked in C in a threads-pool
    worker only when it returns), and the slot frees when that code returns. Until
    then no queued job may take it, which is why "running" can sit below
    maxConcurrent with jobs queued.
    """
    running = Job.objects.filter(id=OuterRef("job_id"), status=Status.RUNNING)
    alive = workers_alive().filter(name=OuterRef("worker"))
    rows = (
        AdmissionSlot.objects.filter(job_id__isnull=False)
        .annotate(worker_alive=Exists(alive), job_running=Exists(running))
        .order_by("claimed_at")
        .values_list("job_id", "worker_alive", "job_running")
    )
    return [HeldSlot(job_id, worker_alive, job_running) for job_id, worker_alive, job_running in rows]


def slots_stopping(held: list[HeldSlot] | None = None) -> int:
    """Admission slots held by jobs that ended while their code still runs (see held_slots)."""
    return sum(not slot.job_running for slot in (held_slots() if held is None else held))


def queue_stats(
    cfg: JobsSettings, counts: Mapping[str, int] | None = None, held: list[HeldSlot] | None = None
) -> dict[str, Any]:
    counts = tallies() if counts is None else counts
    store = store_stats(counts)
    utilization = utilization_percent(store["queued"], cfg.queue.maxQueueSize)
    return {
        "queued": store["queued"],
        "running": store["running"],
        "stopping": slots_stopping(held),
        "dlq": counts.get("dlq", 0),
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
    """Worker rows, newest seen first, each with ``alive``, ``uptime_ms``, ``current_job``
    (the oldest job it holds a slot for: a process of the threads pool may run several)
    and ``stopping`` (how many of its slots are held by jobs that ended while their code runs; None for none)."""
    cutoff = alive_cutoff()
    now = timezone.now()
    holding = AdmissionSlot.objects.filter(worker=OuterRef("name"), job_id__isnull=False).order_by("claimed_at")
    ended = holding.exclude(Exists(Job.objects.filter(id=OuterRef("job_id"), status=Status.RUNNING)))
    workers: list[WorkerHeartbeat] = list(
        WorkerHeartbeat.objects.annotate(
            current_job=Subquery(holding.values("job_id")[:1]),
            stopping=Subquery(ended.order_by().values("worker").annotate(n=Count("number")).values("n")[:1]),
        ).order_by("-last_seen")[:limit]
    )
    for worker in workers:
        worker.alive = worker.last_seen >= cutoff
        worker.uptime_ms = max(0, int((now - worker.started_at).total_seconds() * 1000)) if worker.alive else 0
    return workers


def worker_stats(cfg: JobsSettings, held: list[HeldSlot] | None = None) -> dict[str, Any]:
    """The runbook's worker.getStats(), over every live worker process."""
    held = held_slots() if held is None else held
    alive = workers_alive()
    totals = alive.aggregate(
        n=Count("name"),
        slots=Sum("concurrency"),
        processed=Sum("processed"),
        succeeded=Sum("succeeded"),
        failed=Sum("failed"),
        oldest=Min("started_at"),
        last_seen=Max("last_seen"),
    )
    now = timezone.now()
    current = [slot.job_id for slot in held if slot.worker_alive]
    return {
        "running": cfg.worker.enabled and totals["n"] > 0,
        "enabled": cfg.worker.enabled,
        "workers": totals["n"],
        "slots": totals["slots"] or 0,  # jobs the live workers can run at once
        "stopping": slots_stopping(held),
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


def health_issues(queue: dict[str, Any], worker: dict[str, Any]) -> list[HealthIssue]:
    """What makes the system degraded: every Key Metric's bad state, the workers' first."""
    issues = []
    if not worker["enabled"]:
        issues.append(HealthIssue("disabled", "The job system is disabled (worker.enabled is false): no job starts"))
    elif not worker["workers"]:
        issues.append(HealthIssue("workers", f"No worker alive: {queue['queued']} queued jobs cannot run"))
    if queue["backpressureActive"]:
        issues.append(HealthIssue("backpressure", f"Backpressure active ({queue['utilizationPercent']}% of the queue)"))
    if queue["dlq"] > 10:
        issues.append(HealthIssue("dlq", f"DLQ has {queue['dlq']} entries"))
    if queue["utilizationPercent"] > 90:
        issues.append(HealthIssue("utilization", f"High queue utilization: {queue['utilizationPercent']}%"))
    return issues


def system_health(cfg: JobsSettings) -> dict[str, Any]:
    counts = tallies()
    held = held_slots()
    store = store_stats(counts)
    queue = queue_stats(cfg, counts, held)
    worker = worker_stats(cfg, held)
    issues = health_issues(queue, worker)
    return {
        "status": "degraded" if issues else "healthy",
        "issues": [issue.message for issue in issues],
        "data": {"jobs": {"store": store, "queue": queue, "worker": worker}},
    }


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


def worker_slots_alive() -> int:
    """Jobs the live workers can run at once: the sum of each live process's concurrency."""
    return workers_alive().aggregate(n=Sum("concurrency"))["n"] or 0


def capacity_warning(cfg: JobsSettings, slots: int | None = None) -> str:
    """Said when maxConcurrent admits more jobs than the live workers can run; "" otherwise.

    Admission lets maxConcurrent jobs start, but only as many run as workers have room
    for: the queue backs up while the page shows "3 of 5 running". With no worker alive
    the health issue "No worker alive" says more, so this stays silent then.
    """
    slots = worker_slots_alive() if slots is None else slots
    wanted = cfg.queue.maxConcurrent
    if not slots or wanted <= slots:
        return ""
    return (
        f"maxConcurrent is {wanted} but only {slots} worker slot{'s' if slots != 1 else ''} "
        f"{'are' if slots != 1 else 'is'} alive: at most {slots} job{'s run' if slots != 1 else ' runs'} at once. "
        "Start more workers (or more threads each), or lower maxConcurrent"
    )
