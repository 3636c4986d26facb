"""GET /metrics in Prometheus text format, computed from the database at scrape time.

Nothing is counted in process memory: web processes, workers and beat are
separate, and the database is the source of truth, so every scrape asks it.
Access needs a bearer token (any role) or a client address in
METRICS_ALLOWED_IPS; by default only tokens.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from jobs import selectors
from jobs.models import Status
from jobs.services.config import config_get
from jobs.services.tokens import token_authenticate

# Bounds (seconds) of the run-time histogram, as the job table's trigger counts them (migration 0009).
RUN_TIME_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Event types counted as outcomes: jobs_outcomes_total{outcome="succeeded"} etc.
OUTCOME_EVENTS = {
    "job:submitted": "submitted",
    "job:started": "started",
    "job:succeeded": "succeeded",
    "job:failed": "failed",
    "job:retrying": "retrying",
    "job:dlq": "dlq",
    "job:canceled": "canceled",
    "job:expired": "expired",
    "job:retried_from_dlq": "retried_from_dlq",
}


class JobsCollector:
    """A prometheus_client collector that reads the running counts on each collect().

    Counts come from the tallies the database keeps as rows change, so a scrape
    costs the same at ten million jobs as at a thousand.
    """

    def collect(self):
        cfg = config_get()
        counts = selectors.tallies()
        store = selectors.store_stats(counts)
        queue = selectors.queue_stats(cfg, counts)

        jobs = GaugeMetricFamily("jobs_by_status", "Jobs in the store by status", labels=["status"])
        for status in Status:
            jobs.add_metric([status.value], store[status.value])
        yield jobs
        yield GaugeMetricFamily(
            "jobs_queue_utilization_percent",
            "Queued jobs as a percentage of queue.maxQueueSize",
            value=queue["utilizationPercent"],
        )
        yield GaugeMetricFamily("jobs_queue_max_size", "queue.maxQueueSize", value=cfg.queue.maxQueueSize)
        yield GaugeMetricFamily("jobs_queue_max_concurrent", "queue.maxConcurrent", value=cfg.queue.maxConcurrent)
        yield GaugeMetricFamily(
            "jobs_backpressure_active",
            "1 while backpressure refuses submissions, else 0",
            value=int(queue["backpressureActive"]),
        )
        yield GaugeMetricFamily("jobs_dlq_entries", "Entries in the dead-letter queue", value=queue["dlq"])
        yield GaugeMetricFamily(
            "jobs_workers_alive", "Worker processes whose heartbeat is recent", value=selectors.workers_alive().count()
        )
        yield GaugeMetricFamily(
            "jobs_worker_enabled", "worker.enabled (1) or disabled (0)", value=int(cfg.worker.enabled)
        )
        yield self._outcomes(counts)
        yield self._run_times(counts)

    def _outcomes(self, counts: Mapping[str, int]) -> CounterMetricFamily:
        family = CounterMetricFamily(
            "jobs_outcomes", "Job transitions since the store began, counted as events are written", labels=["outcome"]
        )
        for event_type, outcome in OUTCOME_EVENTS.items():
            family.add_metric([outcome], counts.get(f"event:{event_type}", 0))
        return family

    def _run_times(self, counts: Mapping[str, int]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "jobs_run_seconds",
            "Run time (completedAt - startedAt) of every run that ended in success or failure, "
            "counted as it ended; a running total, for rate() and histogram_quantile()",
            labels=["outcome"],
        )
        for status in (Status.SUCCEEDED, Status.FAILED):
            prefix = f"run:{status.value}:"
            buckets = [(f"{b:g}", counts.get(f"{prefix}le={b:g}", 0)) for b in RUN_TIME_BUCKETS]
            buckets.append(("+Inf", counts.get(f"{prefix}count", 0)))
            family.add_metric([status.value], buckets, counts.get(f"{prefix}ms", 0) / 1000)
        return family


registry = CollectorRegistry(auto_describe=False)
registry.register(JobsCollector())


def _address_allowed(request: HttpRequest) -> bool:
    allowed = settings.JOBS_METRICS_ALLOWED_IPS
    if not allowed:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _refuse(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message, "detail": None}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="jobs-console"'
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        user = token_authenticate(secret.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            return _refuse(401, "Authorization: unknown or revoked token")
        if not user.has_perm("jobs.view_console"):
            return _refuse(403, "Permission denied: missing permission jobs.view_console")
    elif not _address_allowed(request):
        return _refuse(401, "Authentication required: a bearer token, or an address in METRICS_ALLOWED_IPS")
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
