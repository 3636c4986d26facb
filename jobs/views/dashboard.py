"""The dashboard: the runbook's Key Metrics, counts by status, throughput of the last hour."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.github.watcher_state import watcher_status
from jobs.models import Priority
from jobs.selectors.stats import capacity_warning
from jobs.services.config import config_get
from jobs.views.charts import stacked_bars
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm
from jobs.views.history import ms_text


def key_metrics(health: dict[str, Any]) -> list[dict[str, Any]]:
    """The runbook's Key Metrics table, each with its level and the action that helps."""
    queue, worker = health["data"]["jobs"]["queue"], health["data"]["jobs"]["worker"]
    utilization, dlq = queue["utilizationPercent"], queue["dlq"]
    uptime = worker["uptimeMs"] if worker["running"] else 0
    backpressure, dlq_url, workers_url = (
        reverse("jobs:backpressure"),
        reverse("jobs:dlq-list"),
        reverse("jobs:worker-list"),
    )
    return [
        {
            "name": "Queue utilization",
            "value": f"{utilization:g}%",
            "level": "healthy" if utilization < 70 else "warning" if utilization <= 90 else "critical",
            "thresholds": "< 70% · 70–90% · > 90%",
            "action": "Cancel low-priority jobs or increase capacity",
            "url": backpressure,
        },
        {
            "name": "DLQ size",
            "value": str(dlq),
            "level": "healthy" if dlq == 0 else "warning" if dlq <= 10 else "critical",
            "thresholds": "0 · 1–10 · > 10",
            "action": "Inspect the entries, retry or clean them",
            "url": dlq_url,
        },
        {
            "name": "Backpressure",
            "value": "active" if queue["backpressureActive"] else "off",
            "level": "critical" if queue["backpressureActive"] else "healthy",
            "thresholds": "false · — · true",
            "action": "Relieve it: cancel low-priority jobs or raise maxQueueSize",
            "url": backpressure,
        },
        {
            "name": "Worker uptime",
            "uptime_ms": uptime,
            "level": "healthy" if uptime > 0 else "critical",
            "thresholds": "> 0 · — · 0 (not running)",
            "action": "Start a worker or enable the job system" if not uptime else "See each worker",
            "url": workers_url,
        },
    ]


def throughput_chart(series: list[dict[str, Any]]) -> dict[str, Any]:
    """The last hour's bars: succeeded, with failed stacked on top, per minute."""
    return stacked_bars([(f"{point['minute']:%H:%M}", point["succeeded"], point["failed"]) for point in series])


def run_time_rows() -> list[dict[str, Any]]:
    """p50 / p95 run time per entry point over the last 24 hours, from the History rollups."""
    return [
        {
            "entrypoint": each.entrypoint,
            "runs": each.total.run.count,
            "p50": ms_text(each.total.run.p50),
            "p95": ms_text(each.total.run.p95),
        }
        for each in selectors.run_times(hours=24)
    ]


@login_required
@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    health = selectors.system_health(cfg)
    context = {
        "health": health,
        "capacity_warning": capacity_warning(cfg, slots=health["data"]["jobs"]["worker"]["slots"]),
        "paused": _paused_names(),
        "store": health["data"]["jobs"]["store"],
        "metrics": key_metrics(health),
        "chart": throughput_chart(selectors.event_throughput(minutes=60)),
        "watcher": watcher_status(),
        "run_times": run_time_rows(),
    }
    return page(request, "jobs/dashboard.html", context, partial="live")


def _paused_names() -> list[str]:
    """What is paused, as people say it ("demo.sleep", "low priority"), for the dashboard's banner."""
    entrypoints, priorities = selectors.paused_names()
    return sorted(entrypoints) + [f"{Priority(rank).label} priority" for rank in sorted(priorities)]
