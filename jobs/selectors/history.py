"""History: throughput, failures, run time and queue latency per entry point over 24 h or 7 days.

Read from the rollups (models.JobRollup), never from the job table: one GROUP BY over
at most (hours in the window) x (entry points) rows, whatever the number of jobs.
Percentiles are estimated from the rollups' histograms, Prometheus-style: linear
within the bucket that holds the rank, and the last bound when the rank lies above it.

On SQLite (the local run), which has no trigger to write rollups, the same figures are
counted from the most recent jobs and retry events of the window, at most
FALLBACK_LIMIT of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone

from jobs.models import ROLLUP_BOUNDS_MS, ROLLUP_BUCKET_NAMES, Event, Job, JobRollup, Status
from jobs.services.errors import InvalidInput
from jobs.services.rollups import SUMMED

FALLBACK_LIMIT = 20_000
# Buckets start at whole hours and, for 6-hour buckets, at 00, 06, 12 and 18 UTC.
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    name: str
    span: timedelta
    step: timedelta
    label: str

    @property
    def buckets(self) -> int:
        return self.span // self.step


WINDOWS = {
    "24h": Window("24h", timedelta(hours=24), timedelta(hours=1), "24 hours, hourly"),
    "7d": Window("7d", timedelta(days=7), timedelta(hours=6), "7 days, every 6 hours"),
}


def history_window(name: str | None) -> Window:
    """The window named by ``?window=`` (24h when absent); InvalidInput (400) for any other."""
    window = WINDOWS.get(name or "24h")
    if window is None:
        raise InvalidInput(f"window: must be one of {', '.join(WINDOWS)} (got {name!r})")
    return window


@dataclass
class Histogram:
    """Counts per bucket of ROLLUP_BUCKET_NAMES (values in (previous bound, bound]) and their sum."""

    counts: list[int] = field(default_factory=lambda: [0] * len(ROLLUP_BUCKET_NAMES))
    sum_ms: int = 0

    @property
    def count(self) -> int:
        return sum(self.counts)

    @property
    def mean(self) -> float | None:
        return self.sum_ms / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The q-quantile in ms, estimated from the buckets; None without values."""
        total = self.count
        if not total:
            return None
        rank, seen, lower = q * total, 0, 0
        for n, upper in zip(self.counts, (*ROLLUP_BOUNDS_MS, None), strict=True):
            if n and seen + n >= rank:
                if upper is None:
                    return float(lower)  # above the last bound: it is all we know
                return lower + (upper - lower) * (rank - seen) / n
            seen += n
            lower = upper if upper is not None else lower
        return float(lower)

    @property
    def p50(self) -> float | None:
        return self.quantile(0.5)

    @property
    def p95(self) -> float | None:
        return self.quantile(0.95)

    def add(self, row: Mapping[str, Any], kind: str) -> None:
        for i, name in enumerate(ROLLUP_BUCKET_NAMES):
            self.counts[i] += int(row[f"{kind}_le_{name}"] or 0)
        self.sum_ms += int(row[f"{kind}_ms"] or 0)


@dataclass
class Point:
    """One bucket of one entry point (or of all together): what ended, what was retried, how long."""

    start: datetime | None = None
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    run: Histogram = field(default_factory=Histogram)
    wait: Histogram = field(default_factory=Histogram)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def failures(self) -> int:
        """Failed attempts: those that failed the job and those tried again."""
        return self.failed + self.retried

    def add(self, row: Mapping[str, Any]) -> None:
        self.succeeded += int(row["succeeded"] or 0)
        self.failed += int(row["failed"] or 0)
        self.retried += int(row["retried"] or 0)
        self.run.add(row, "run")
        self.wait.add(row, "wait")


@dataclass
class Series:
    entrypoint: str | None  # None: every entry point together
    points: list[Point]
    total: Point


@dataclass
class History:
    window: Window
    start: datetime
    end: datetime  # the end of the last bucket (the current one, still filling)
    entrypoint: str | None
    total: Series
    series: list[Series]  # one per entry point, by name
    entrypoints: list[str]  # every entry point with history in the window, for the filter


def history(window: Window, *, entrypoint: str | None = None, now: datetime | None = None) -> History:
    """The window's buckets, oldest first, for every entry point (or the one named) and in total."""
    if entrypoint and "\x00" in entrypoint:  # PostgreSQL text cannot hold it: a 400, not a 500
        raise InvalidInput("entrypoint: must not contain NUL characters")
    last = _floor(now or timezone.now(), window.step)
    starts = [last - window.step * i for i in reversed(range(window.buckets))]
    rows = _rows(starts[0], window.step, entrypoint)
    points: dict[str, dict[datetime, Point]] = {}
    total = {start: Point(start) for start in starts}
    for row in rows:
        name, start = row["entrypoint"], row["step_start"]
        if start not in total:  # a bucket of the future (a clock set back): not shown
            continue
        if name not in points:
            points[name] = {s: Point(s) for s in starts}
        points[name][start].add(row)
        total[start].add(row)
    series = [_series(name, list(points[name].values())) for name in sorted(points)]
    if not entrypoint:
        names = sorted(points)
    elif connection.vendor == "postgresql":  # the filter offers every entry point, not only the one shown
        rollups = JobRollup.objects.filter(bucket_start__gte=starts[0]).order_by("entrypoint")
        names = list(rollups.values_list("entrypoint", flat=True).distinct())
    else:
        names = sorted({entrypoint, *points})
    return History(
        window=window,
        start=starts[0],
        end=last + window.step,
        entrypoint=entrypoint,
        total=_series(entrypoint, list(total.values())),
        series=series,
        entrypoints=names,
    )


def run_times(*, hours: int = 24, now: datetime | None = None) -> list[Series]:
    """Per entry point, by name: its runs that ended within the last ``hours`` hours (the current
    one included), in one Point (``.run.p50``, ``.run.p95``, ``.finished``); for the dashboard."""
    step = timedelta(hours=1)
    start = _floor(now or timezone.now(), step) - step * (hours - 1)
    totals: dict[str, Point] = {}
    for row in _rows(start, None, None):
        totals.setdefault(row["entrypoint"], Point()).add(row)
    return [Series(name, [], point) for name, point in sorted(totals.items()) if point.run.count]


def _series(entrypoint: str | None, points: list[Point]) -> Series:
    total = Point()
    for point in points:
        total.succeeded += point.succeeded
        total.failed += point.failed
        total.retried += point.retried
        for mine, theirs in ((total.run, point.run), (total.wait, point.wait)):
            mine.counts = [a + b for a, b in zip(mine.counts, theirs.counts, strict=True)]
            mine.sum_ms += theirs.sum_ms
    return Series(entrypoint, points, total)


def _floor(at: datetime, step: timedelta) -> datetime:
    return _ORIGIN + (at - _ORIGIN) // step * step


def _rows(start: datetime, step: timedelta | None, entrypoint: str | None) -> list[dict[str, Any]]:
    """Summed rollup columns per (bucket of ``step``, entry point), or per entry point when step is None."""
    if connection.vendor != "postgresql":
        return _counted_rows(start, step, entrypoint)
    rollups = JobRollup.objects.filter(bucket_start__gte=start).order_by()
    if entrypoint:
        rollups = rollups.filter(entrypoint=entrypoint)
    # As bigint: sum() of bigint is numeric, and reading thousands of Decimals costs more than the query.
    sums = {column: Cast(Sum(column), BigIntegerField()) for column in SUMMED}
    if step is None:
        return [dict(row) for row in rollups.values("entrypoint").annotate(**sums)]
    binned = rollups.annotate(step_start=RawSQL("date_bin(%s, bucket_start, %s)", (step, _ORIGIN)))
    return [dict(row) for row in binned.values("step_start", "entrypoint").annotate(**sums)]


def _bucket_name(ms: float) -> str:
    for bound, name in zip(ROLLUP_BOUNDS_MS, ROLLUP_BUCKET_NAMES, strict=False):
        if ms <= bound:
            return name
    return "inf"


def _counted_rows(start: datetime, step: timedelta | None, entrypoint: str | None) -> list[dict[str, Any]]:
    """The rollups' figures counted from recent jobs and retry events (SQLite: no trigger there).

    A job's admissions before its last are not in its row: only the last one's queue
    latency is counted.
    """
    rows: dict[tuple[datetime | None, str], dict[str, Any]] = {}

    def row(at: datetime, name: str) -> dict[str, Any]:
        bucket = _floor(at, step) if step else None
        return rows.setdefault((bucket, name), {"step_start": bucket, "entrypoint": name, **dict.fromkeys(SUMMED, 0)})

    def record(target: dict[str, Any], kind: str, ms: float) -> None:
        target[f"{kind}_count"] += 1
        target[f"{kind}_ms"] += round(ms)
        target[f"{kind}_le_{_bucket_name(ms)}"] += 1

    jobs = Job.objects.filter(Q(started_at__gte=start) | Q(completed_at__gte=start))
    retries = Event.objects.filter(type="job:retrying", created_at__gte=start)
    if entrypoint:
        jobs = jobs.filter(entrypoint=entrypoint)
    fields = ("entrypoint", "status", "created_at", "next_attempt_at", "started_at", "completed_at")
    for name, status, created, due, started, completed in jobs.order_by("-updated_at").values_list(*fields)[
        :FALLBACK_LIMIT
    ]:
        if started and started >= start:
            record(row(started, name), "wait", max((started - max(created, due)).total_seconds() * 1000, 0))
        if status in (Status.SUCCEEDED, Status.FAILED) and completed and completed >= start:
            ended = row(completed, name)
            ended[status] += 1
            if started:
                record(ended, "run", max((completed - started).total_seconds() * 1000, 0))
    named = retries.annotate(entrypoint=Subquery(Job.objects.filter(id=OuterRef("job_id")).values("entrypoint")[:1]))
    for at, name, data in named.order_by("-id").values_list("created_at", "entrypoint", "data")[:FALLBACK_LIMIT]:
        counted = not isinstance(data, dict) or data.get("attemptCounted", True)
        if name and counted and (not entrypoint or name == entrypoint):
            row(at, name)["retried"] += 1
    return list(rows.values())
