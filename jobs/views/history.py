"""History: throughput, failures and queue latency per entry point over 24 h or 7 days, from the rollups."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.selectors.history import Point, Series
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, service_errors

CHART_HEIGHT = 120
BAR_WIDTH = 10


@login_required
@require_GET
@service_errors
def history_page(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    window = selectors.history_window(request.GET.get("window"))
    entrypoint = request.GET.get("entrypoint") or None
    report = selectors.history(window, entrypoint=entrypoint)
    series = report.total
    context = {
        "report": report,
        "windows": selectors.WINDOWS.values(),
        "charts": history_charts(series),
        "rows": [point_row(point) for point in series.points],
        "entrypoint_rows": [dict(point_row(each.total), entrypoint=each.entrypoint) for each in report.series],
    }
    return page(request, "jobs/history.html", context, partial="history")


def ms_text(value: float | None) -> str:
    """A duration in ms as people read it: '—', '7 ms', '2.5 s', '3.2 min', '1.5 h'."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    if value < 3_600_000:
        return f"{value / 60_000:.1f} min"
    return f"{value / 3_600_000:.1f} h"


def _when(point: Point) -> str:
    return f"{point.start:%Y-%m-%d %H:%M}" if point.start else ""


def _num(value: float) -> str:
    return f"{value:g}"


def point_row(point: Point) -> dict[str, Any]:
    """One line of a table: counts, and the percentiles as text."""
    return {
        "start": _when(point),
        "succeeded": point.succeeded,
        "failed": point.failed,
        "retried": point.retried,
        "run_p50": ms_text(point.run.p50),
        "run_p95": ms_text(point.run.p95),
        "wait_p50": ms_text(point.wait.p50),
        "wait_p95": ms_text(point.wait.p95),
        "admitted": point.wait.count,
    }


def _stacked(series: Series, lower: str, upper: str) -> dict[str, Any]:
    """Bars of two stacked counts per bucket (attributes, not styles: the CSP allows no inline style)."""
    values = [(getattr(point, lower), getattr(point, upper)) for point in series.points]
    peak = max((a + b for a, b in values), default=0) or 1
    bars = []
    for i, (point, (a, b)) in enumerate(zip(series.points, values, strict=True)):
        a_h = round(a * CHART_HEIGHT / peak, 1)
        b_h = round(b * CHART_HEIGHT / peak, 1)
        bars.append(
            {
                "start": _when(point),
                "a": a,
                "b": b,
                "x": i * BAR_WIDTH + 1,
                "a_y": _num(CHART_HEIGHT - a_h),
                "a_h": _num(a_h) if a_h else "",
                "b_y": _num(CHART_HEIGHT - a_h - b_h),
                "b_h": _num(b_h) if b_h else "",
            }
        )
    return {"bars": bars, "peak": peak, "total": sum(a + b for a, b in values)}


def _latency(series: Series) -> dict[str, Any]:
    """A p95 bar per bucket with its p50 inside it, on one scale."""
    quantiles = [(point.wait.p50, point.wait.p95) for point in series.points]
    peak = max((p95 for _, p95 in quantiles if p95 is not None), default=0) or 1
    bars = []
    for i, (point, (p50, p95)) in enumerate(zip(series.points, quantiles, strict=True)):
        p50_h = round((p50 or 0) * CHART_HEIGHT / peak, 1)
        p95_h = round((p95 or 0) * CHART_HEIGHT / peak, 1)
        bars.append(
            {
                "start": _when(point),
                "p50": ms_text(p50),
                "p95": ms_text(p95),
                "x": i * BAR_WIDTH + 1,
                "p50_y": _num(CHART_HEIGHT - p50_h),
                "p50_h": _num(p50_h) if p50_h else "",
                "p95_y": _num(CHART_HEIGHT - p95_h),
                "p95_h": _num(p95_h) if p95_h else "",
            }
        )
    return {"bars": bars, "peak": ms_text(peak), "total": series.total.wait.count}


def history_charts(series: Series) -> dict[str, Any]:
    """The three charts of one series (an entry point, or all together), with their shared geometry."""
    return {
        "width": len(series.points) * BAR_WIDTH,
        "height": CHART_HEIGHT,
        "throughput": _stacked(series, "succeeded", "failed"),
        "failures": _stacked(series, "failed", "retried"),
        "latency": _latency(series),
    }
