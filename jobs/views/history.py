"""History: throughput, failures and queue latency per entry point over 24 h or 7 days, from the rollups."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.selectors.history import Point, Series
from jobs.views.charts import BAR_WIDTH, CHART_HEIGHT, bar_height, num, stacked_bars
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, service_errors


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


def _latency(series: Series) -> dict[str, Any]:
    """A p95 bar per bucket with its p50 inside it, on one scale."""
    quantiles = [(point.wait.p50, point.wait.p95) for point in series.points]
    peak = max((p95 for _, p95 in quantiles if p95 is not None), default=0) or 1
    bars = []
    for i, (point, (p50, p95)) in enumerate(zip(series.points, quantiles, strict=True)):
        p50_h, p95_h = bar_height(p50 or 0, peak), bar_height(p95 or 0, peak)
        bars.append(
            {
                "start": _when(point),
                "p50": ms_text(p50),
                "p95": ms_text(p95),
                "x": i * BAR_WIDTH + 1,
                "p50_y": num(CHART_HEIGHT - p50_h),
                "p50_h": num(p50_h) if p50_h else "",
                "p95_y": num(CHART_HEIGHT - p95_h),
                "p95_h": num(p95_h) if p95_h else "",
            }
        )
    return {"bars": bars, "peak": ms_text(peak), "total": series.total.wait.count}


def history_charts(series: Series) -> dict[str, Any]:
    """The three charts of one series (an entry point, or all together), with their shared geometry."""
    return {
        "width": len(series.points) * BAR_WIDTH,
        "height": CHART_HEIGHT,
        "throughput": stacked_bars([(_when(point), point.succeeded, point.failed) for point in series.points]),
        "failures": stacked_bars([(_when(point), point.failed, point.retried) for point in series.points]),
        "latency": _latency(series),
    }
