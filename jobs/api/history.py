"""GET /api/history: throughput, failures, run time and queue latency per entry point, from the rollups."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from jobs import selectors
from jobs.api.common import require_perm
from jobs.api.schemas import errors
from jobs.representations import history_to_dict

router = Router(tags=["system"])


class DurationsOut(Schema):
    count: int
    avg: float | None
    p50: float | None
    p95: float | None


class HistoryPointOut(Schema):
    start: datetime | None
    succeeded: int
    failed: int
    retried: int
    runTimeMs: DurationsOut
    queueLatencyMs: DurationsOut


class HistorySeriesOut(Schema):
    entrypoint: str | None
    totals: HistoryPointOut
    buckets: list[HistoryPointOut]


class HistoryOut(Schema):
    window: str
    bucketSeconds: int
    start: datetime
    end: datetime
    entrypoint: str | None
    total: HistorySeriesOut
    entrypoints: list[HistorySeriesOut]


@router.get("/history", response={200: HistoryOut, **errors(400)})
def history(request: HttpRequest, window: str = "24h", entrypoint: str = ""):
    """Per entry point and in total, bucket by bucket (``window=24h``: 24 hourly buckets; ``7d``:
    28 buckets of 6 hours, UTC), oldest first, the current bucket last: runs that succeeded or
    failed for good, attempts retried, run-time and queue-latency percentiles in ms (estimated
    from histograms). ``entrypoint`` narrows it to one."""
    require_perm(request)
    report = selectors.history(selectors.history_window(window), entrypoint=entrypoint or None)
    return history_to_dict(report)
