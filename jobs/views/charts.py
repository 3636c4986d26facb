"""Bar charts the templates draw as SVG: the geometry comes as attributes (the CSP allows no inline style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHART_HEIGHT = 120
BAR_WIDTH = 10


def bar_height(value: float, peak: float) -> float:
    return round(value * CHART_HEIGHT / peak, 1)


def num(value: float) -> str:
    """An SVG coordinate as written: ``12`` rather than ``12.0``."""
    return f"{value:g}"


def stacked_bars(buckets: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """Two counts stacked per bucket, ``(label, lower, upper)``, on one scale.

    The dashboard's last hour (succeeded under failed) and the History page's charts.
    """
    peak = max((a + b for _, a, b in buckets), default=0) or 1
    bars = []
    for i, (label, a, b) in enumerate(buckets):
        a_h, b_h = bar_height(a, peak), bar_height(b, peak)
        bars.append(
            {
                "start": label,
                "a": a,
                "b": b,
                "x": i * BAR_WIDTH + 1,
                "a_y": num(CHART_HEIGHT - a_h),
                "a_h": num(a_h) if a_h else "",
                "b_y": num(CHART_HEIGHT - a_h - b_h),
                "b_h": num(b_h) if b_h else "",
            }
        )
    total = sum(a + b for _, a, b in buckets)
    return {"bars": bars, "peak": peak, "total": total, "width": len(buckets) * BAR_WIDTH, "height": CHART_HEIGHT}
