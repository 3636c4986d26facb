"""The incident timeline: events, operator actions and health changes of a time window, in time order.

Three kinds of row from two tables: ``event`` and ``health`` rows are Events
(``health:changed`` is recorded by services.health), ``action`` rows are audit
entries. Each table is read one keyset page at a time over its (created_at, id)
index and the two pages are merged here, so a page costs two short index scans
whatever the size of the tables; the exports walk the window the same way,
page after page, and never hold more than a page.

An action row shows who did what, why, to which jobs and whether it was refused;
the audit trail's other columns (before / after, address, hashes) stay on the
audit page, for auditors.
"""

from __future__ import annotations

import heapq
import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, JSONField, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import AuditEntry, Event, Job
from jobs.pagination import decode_cursor, encode_cursor
from jobs.selectors.lists import _names_object
from jobs.services.errors import InvalidInput

KINDS = ("event", "action", "health")
HEALTH_CHANGED = "health:changed"
DEFAULT_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=7)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# "Jobs involved" counts the window's first events up to this many, and names the busiest jobs.
SUMMARY_EVENTS = 10_000
SUMMARY_JOBS = 25
# An action names this many jobs on the page (a retry-all names hundreds); the exports name them all.
JOBS_SHOWN = 5
FAILURES = ("job:failed", "job:retrying", "job:dlq", "job:expired")
_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Rank within one instant: an event before the action written in the same microsecond.
_RANK = {"event": 0, "health": 0, "action": 1}


@dataclass(frozen=True)
class Window:
    """[since, until) and the filters, checked: build it with ``timeline_window``."""

    since: datetime
    until: datetime
    kind: str | None = None
    job: uuid.UUID | None = None
    entrypoint: str | None = None

    def shows(self, kind: str) -> bool:
        return self.kind in (None, kind)


@dataclass
class Row:
    at: datetime
    kind: str  # event, action, health
    id: int  # the Event's or the AuditEntry's id
    what: str
    who: str
    jobs: list[str]
    reason: str
    outcome: str  # an action's ok / denied; a health row's status; "" for events
    source: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[datetime, int, int]:
        return (self.at, _RANK[self.kind], self.id)

    @property
    def jobs_shown(self) -> list[str]:
        return self.jobs[:JOBS_SHOWN]

    @property
    def jobs_more(self) -> int:
        return max(0, len(self.jobs) - JOBS_SHOWN)


@dataclass(frozen=True)
class TimelinePage:
    rows: list[Row]
    next_cursor: str | None


@dataclass(frozen=True)
class InvolvedJob:
    id: str
    entrypoint: str | None  # None: the job is gone (cleared)
    status: str | None
    events: int
    failures: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class Involved:
    jobs: list[InvolvedJob]
    total: int  # distinct jobs among the events counted
    events_counted: int
    complete: bool  # False: the window has more than SUMMARY_EVENTS events, only the first were counted


def _time(name: str, value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    else:
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidInput(f"{name}: not a time; give ISO 8601 such as 2026-01-31T14:00Z (no zone means UTC)")
    assert parsed is not None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def timeline_window(
    *,
    since: Any = None,
    until: Any = None,
    kind: str | None = None,
    job: Any = None,
    entrypoint: str | None = None,
    now: datetime | None = None,
) -> Window:
    """The checked window. Defaults: until now, since an hour before until; at most MAX_WINDOW long.

    Times are ISO 8601 (a datetime-local field's ``2026-01-31T14:00`` too); one without a zone is UTC.
    """
    start, end = _time("since", since), _time("until", until)
    end = end or (now or timezone.now())
    start = start or end - DEFAULT_WINDOW
    if end <= start:
        raise InvalidInput("until: must be after since")
    if end - start > MAX_WINDOW:
        raise InvalidInput(f"until: the window is longer than {MAX_WINDOW.days} days; narrow since or until")
    if kind in ("", None, "all"):
        kind = None
    elif kind not in KINDS:
        raise InvalidInput(f"kind: must be one of {', '.join(KINDS)}")
    job_id = None
    if job not in (None, ""):
        try:
            job_id = uuid.UUID(str(job).strip())
        except ValueError:
            raise InvalidInput("job: not a job id") from None
    entrypoint = (entrypoint or "").strip() or None
    if entrypoint and len(entrypoint) > 200:
        raise InvalidInput("entrypoint: at most 200 characters")
    return Window(since=start, until=end, kind=kind, job=job_id, entrypoint=entrypoint)


class _WithoutTraceback(Func):
    """An event's data without its traceback (up to 20 kB a row, and shown on the job's page)."""

    output_field = JSONField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s - 'traceback')", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="json_remove(%(expressions)s, '$.traceback')", **extra)


# An entry point with at most this many jobs is looked up in the trail by their ids
# (``object_ids ?| ...`` over audit_object_ids_idx); one with more is common enough that
# reading the window in time order meets its entries soon.
FEW_JOBS = 1000


def _names_job_of(entrypoint: str):
    """Audit entries that name at least one job of ``entrypoint`` (object_ids are strings, not keys)."""
    if connection.vendor == "postgresql":
        few = list(Job.objects.filter(entrypoint=entrypoint).values_list("id", flat=True)[: FEW_JOBS + 1])
        if len(few) <= FEW_JOBS:
            return Q(object_type="job", object_ids__has_any_keys=[str(job_id) for job_id in few])
        sql = (
            "jobs_auditentry.object_type = 'job' AND EXISTS (SELECT 1 FROM "
            "jsonb_array_elements_text(jobs_auditentry.object_ids) AS o(v) JOIN jobs_job j ON j.id = "
            "(CASE WHEN o.v ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' "
            "THEN o.v::uuid END) WHERE j.entrypoint = %s)"
        )
    else:  # SQLite stores a UUID as 32 hex digits
        sql = (
            "jobs_auditentry.object_type = 'job' AND EXISTS (SELECT 1 FROM json_each(jobs_auditentry.object_ids) o "
            "JOIN jobs_job j ON j.id = replace(o.value, '-', '') WHERE j.entrypoint = %s)"
        )
    return RawSQL(sql, [entrypoint], output_field=BooleanField())  # noqa: S611 - a constant, the value a parameter


def _events(window: Window, *, kinds: tuple[str, ...] = ("event", "health")):
    """The window's events of ``kinds``, as one queryset or, for a job's or an entry point's, two.

    Health changes are the whole system's: they stay beside one job's or one entry
    point's events, as context, read apart so that each part keeps its own index
    (an entry point with few jobs is found through them, not by reading the window).
    """
    events = Event.objects.filter(created_at__gte=window.since, created_at__lt=window.until)
    shown = [kind for kind in kinds if window.shows(kind)]
    health = events.filter(type=HEALTH_CHANGED)
    if not shown:
        return []
    if shown == ["health"]:
        return [health]
    if "health" in shown and not (window.job or window.entrypoint):
        return [events]
    of_jobs = events.exclude(type=HEALTH_CHANGED)
    if window.job:
        of_jobs = of_jobs.filter(job_id=window.job)
    if window.entrypoint:
        of_jobs = of_jobs.filter(Exists(Job.objects.filter(id=OuterRef("job_id"), entrypoint=window.entrypoint)))
    return [of_jobs, health] if "health" in shown else [of_jobs]


def _actions(window: Window):
    if not window.shows("action"):
        return AuditEntry.objects.none()
    entries = AuditEntry.objects.filter(created_at__gte=window.since, created_at__lt=window.until)
    if window.job:
        entries = entries.filter(_names_object(str(window.job)))
    if window.entrypoint:
        entries = entries.filter(_names_job_of(window.entrypoint))
    return entries


def _after(rank: int, cursor: tuple[datetime, int, int] | None) -> Q:
    """Rows of a table of ``rank`` that come after ``cursor`` in (created_at, rank, id) order."""
    if cursor is None:
        return Q()
    at, cursor_rank, id = cursor
    if rank > cursor_rank:
        return Q(created_at__gte=at)
    if rank < cursor_rank:
        return Q(created_at__gt=at)
    return Q(created_at__gt=at) | Q(created_at=at, id__gt=id)


def _event_rows(window: Window, cursor, limit: int) -> list[Row]:
    pages = [
        events.filter(_after(0, cursor))
        .order_by("created_at", "id")
        .values_list("id", "type", "job_id", "created_at", _WithoutTraceback(F("data")))[:limit]
        for events in _events(window)
    ]
    rows = heapq.merge(*pages, key=lambda row: (row[3], row[0]))  # (created_at, id), as each page is ordered
    return [_event_row(*row) for row in itertools.islice(rows, limit)]


def _event_row(id: int, type: str, job_id, created_at: datetime, data: dict[str, Any]) -> Row:
    data = data or {}
    if type == HEALTH_CHANGED:
        previous = (data.get("previous") or {}).get("status") or "unknown"
        return Row(
            at=created_at,
            kind="health",
            id=id,
            what=f"health: {previous} → {data.get('status')}",
            who="system",
            jobs=[],
            reason="; ".join(data.get("messages") or []),
            outcome=str(data.get("status") or ""),
            source="system",
            extra={"issues": data.get("issues") or []},
        )
    reason = data.get("reason") or data.get("error") or ""
    extra = {key: value for key, value in data.items() if key not in ("reason", "error", "by", "worker", "source")}
    return Row(
        at=created_at,
        kind="event",
        id=id,
        what=type,
        who=str(data.get("by") or data.get("worker") or ""),
        jobs=[str(job_id)] if job_id else [],
        reason=str(reason),
        outcome="",
        source=str(data.get("source") or ""),
        extra=extra,
    )


def _action_rows(window: Window, cursor, limit: int) -> list[Row]:
    entries = (
        _actions(window)
        .filter(_after(1, cursor))
        .order_by("created_at", "id")
        .values_list("id", "created_at", "actor", "source", "action", "outcome", "object_type", "object_ids", "reason")[
            :limit
        ]
    )
    rows = []
    for id, created_at, actor, source, action, outcome, object_type, object_ids, reason in entries:
        names = [str(o) for o in object_ids or []]
        # Job links need job ids: whatever else an entry names stays in its detail, as text.
        jobs = [name for name in names if _JOB_ID.match(name)] if object_type == "job" else []
        others = [name for name in names if name not in jobs] if len(jobs) < len(names) else []
        rows.append(
            Row(
                at=created_at,
                kind="action",
                id=id,
                what=action,
                who=actor,
                jobs=jobs,
                reason=reason,
                outcome=outcome,
                source=source,
                extra={"objectType": object_type, "objectIds": others} if others else {},
            )
        )
    return rows


def _decode(cursor: str | None) -> tuple[datetime, int, int] | None:
    if not cursor:
        return None
    at, rank, id = decode_cursor(cursor, Event, ("created_at", "id", "id"))
    if rank not in (0, 1):
        raise InvalidInput("cursor: not a cursor this API gave out")
    return at, int(rank), int(id)


def timeline_page(window: Window, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> TimelinePage:
    """The first ``limit`` rows after ``cursor``, oldest first, and the cursor of the next page.

    Two queries: up to limit + 1 events and limit + 1 audit entries, merged.
    """
    after = _decode(cursor)
    rows = sorted(_event_rows(window, after, limit + 1) + _action_rows(window, after, limit + 1), key=lambda r: r.key)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        at, rank, id = page[-1].key
        next_cursor = encode_cursor([at.isoformat(), rank, id])
    return TimelinePage(page, next_cursor)


def timeline_rows(window: Window, *, chunk: int = 1000) -> Iterator[Row]:
    """Every row of the window, oldest first, read a page at a time (the exports)."""
    after = None
    while True:
        events = _event_rows(window, after, chunk)
        actions = _action_rows(window, after, chunk)
        rows = sorted(events + actions, key=lambda r: r.key)
        if not rows:
            return
        # Only rows up to the first table's last row are certainly in order: the other
        # table may hold rows before that table's next page.
        horizon = min(
            (table[-1].key for table in (events, actions) if len(table) == chunk),
            default=None,
        )
        for row in rows:
            if horizon is not None and row.key > horizon:
                break
            yield row
            after = row.key
        if horizon is None:
            return


def jobs_involved(window: Window) -> Involved:
    """The distinct jobs the window's events name (the busiest first), with their status now.

    Counted over the window's first SUMMARY_EVENTS job events, so that a week of a busy
    system costs what an hour does; ``complete`` says whether that was all of them.
    Two queries: the busiest jobs with the totals, and those jobs' entry point and status.
    """
    scope = Window(since=window.since, until=window.until, job=window.job, entrypoint=window.entrypoint)
    (events,) = _events(scope, kinds=("event",))  # the scope shows every kind: one queryset
    counted = (
        events.exclude(job_id=None).order_by("created_at", "id").values("job_id", "type", "created_at")[:SUMMARY_EVENTS]
    )
    busiest = _busiest(counted)
    total_jobs = busiest[0][5] if busiest else 0
    events_counted = int(busiest[0][6]) if busiest else 0
    ids = [_uuid(row[0]) for row in busiest]
    known = {
        job_id: (entrypoint, status)
        for job_id, entrypoint, status in Job.objects.filter(id__in=ids).values_list("id", "entrypoint", "status")
    }
    jobs = [
        InvolvedJob(
            id=str(job_id),
            entrypoint=known.get(job_id, (None, None))[0],
            status=known.get(job_id, (None, None))[1],
            events=int(n),
            failures=int(failures),
            first=_aware(first),
            last=_aware(last),
        )
        for job_id, (_, n, failures, first, last, _, _) in zip(ids, busiest, strict=True)
    ]
    return Involved(
        jobs=jobs, total=total_jobs, events_counted=events_counted, complete=events_counted < SUMMARY_EVENTS
    )


def _busiest(counted) -> list[tuple]:
    """Group the capped events by job, busiest first, with the totals over every group.

    The capped read is the FROM of the grouping, not an ``id IN (...)``: PostgreSQL
    would answer that with a hash join over the whole event table.
    """
    inner, params = counted.query.sql_with_params()
    failures = ", ".join(["%s"] * len(FAILURES))
    sql = (
        "SELECT e.job_id, COUNT(*) AS n, "  # noqa: S608 - the inner query is Django's, its values parameters
        f"SUM(CASE WHEN e.type IN ({failures}) THEN 1 ELSE 0 END), MIN(e.created_at) AS first_at, "
        "MAX(e.created_at), COUNT(*) OVER (), SUM(COUNT(*)) OVER () "
        f"FROM ({inner}) e GROUP BY e.job_id ORDER BY n DESC, first_at, e.job_id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*FAILURES, *params, SUMMARY_JOBS])
        return cursor.fetchall()


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _aware(value) -> datetime:
    """A time from a raw query: SQLite gives text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value
