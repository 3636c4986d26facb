"""Bulk actions on a filter: freeze the exact target set first (the dry run), then run exactly that set.

``bulk_freeze`` copies the ids of the jobs a filter matches (or of picked ids)
that the action can still reach, with a breakdown by entry point, status and DLQ
fingerprint and the effect on the queue, into one BulkSelection row; no job
changes. On PostgreSQL that is one ``INSERT ... SELECT`` whatever the number of
jobs: the filter is read once, grouped once, and its ids aggregated (16 bytes each)
in the same statement. ``jobs.services.operations.bulk_run_start`` then processes those ids
in batches (``bulk_apply``); jobs matching the filter that arrive after the
freeze are not in it, and frozen jobs that ended meanwhile are skipped and counted.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, QuerySet, Value
from django.utils import timezone

from jobs import selectors
from jobs.models import BulkSelection, DLQEntry, Job, Status
from jobs.selectors.stats import utilization_percent
from jobs.services.audit import Actor, audit_record, authorize
from jobs.services.backpressure import paced_limit, queue_limit
from jobs.services.config import config_get
from jobs.services.dlq import dlq_retry_entries
from jobs.services.errors import Conflict, InvalidInput, NotFound
from jobs.services.lifecycle import jobs_cancel, jobs_force_fail

# How long a dry run may wait for its Run: long enough to read it, short enough that it still describes the queue.
SELECTION_MINUTES = 30
# Who may freeze and run each kind: retry as a DLQ retry, force-fail as an admin's force-fail.
PERMISSIONS: dict[str, str] = {
    BulkSelection.Kind.CANCEL: "jobs.cancel_job",
    BulkSelection.Kind.RETRY: "jobs.retry_job",
    BulkSelection.Kind.FORCE_FAIL: "jobs.force_fail_job",
}
FILTER_FIELDS = ("status", "priority", "entrypoint", "q", "params")

_FREEZE = """
WITH matched (id, entrypoint, status, fingerprint) AS ({rows}),
grouped AS (
    SELECT entrypoint, status, fingerprint, count(*) AS n, string_agg(uuid_send(id), ''::bytea) AS ids
    FROM matched GROUP BY entrypoint, status, fingerprint
)
INSERT INTO jobs_bulkselection
    (id, action, created_by, created_at, expires_at, filter, state, reason, effect, total, breakdown, ids)
SELECT %s, %s, %s, %s, %s, %s::jsonb, 'frozen', '', '{{}}'::jsonb,
    (SELECT coalesce(sum(n), 0) FROM grouped),
    (SELECT coalesce(jsonb_agg(jsonb_build_array(entrypoint, status, fingerprint, n)
                               ORDER BY n DESC, entrypoint, status, fingerprint), '[]'::jsonb) FROM grouped),
    (SELECT coalesce(string_agg(ids, ''::bytea), ''::bytea) FROM grouped)
RETURNING total, breakdown
"""


def bulk_freeze(
    *, actor: Actor, action: str, filters: dict[str, Any] | None = None, ids: list[str] | None = None
) -> BulkSelection:
    """The dry run: freeze the jobs ``action`` would hit, with their breakdown and the effect on the queue.

    ``ids`` (picked jobs) or ``filters`` (the Jobs page's: status, priority, entrypoint,
    q, params). Refused when nothing matches (409), and audited: no job changes, but
    the frozen set is what a later run is held to.
    """
    if action not in PERMISSIONS:
        raise InvalidInput(f"action: must be one of {', '.join(PERMISSIONS)}")
    authorize(actor, PERMISSIONS[action], action="jobs.bulk_freeze", object_type="selection")
    filters = {name: value for name, value in (filters or {}).items() if name in FILTER_FIELDS and value}
    described: dict[str, Any] = {"ids": len(ids)} if ids else filters
    rows = _dlq_rows(filters, ids) if action == BulkSelection.Kind.RETRY else _active_rows(filters, ids)
    now = timezone.now()
    # The row as the INSERT writes it; the dry run's answer, without reading it back (nor its ids).
    selection = BulkSelection(
        id=uuid.uuid4(),
        action=action,
        created_by=actor.name,
        created_at=now,
        expires_at=now + timedelta(minutes=SELECTION_MINUTES),
        filter=described,
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            selection.total, selection.breakdown = _freeze_in_one_statement(rows, selection)
        else:
            selection.total, selection.breakdown = _freeze_in_python(rows, selection)
        if not selection.total:
            raise Conflict(f"no job matching this {'selection' if ids else 'filter'} can be {_done(action)}")
        selection.effect = _effect(action, selection.breakdown)
        BulkSelection.objects.filter(id=selection.id).update(effect=selection.effect)
        audit_record(
            actor,
            action="jobs.bulk_freeze",
            object_type="selection",
            object_ids=[str(selection.id)],
            after={"action": action, "filter": described, "frozen": selection.total, "effect": selection.effect},
        )
    return selection


def _active_rows(filters: dict[str, Any], ids: list[str] | None) -> QuerySet:
    """The jobs a cancel or force-fail reaches (waiting, queued or running), as rows of the freeze."""
    jobs = Job.objects.filter(id__in=ids) if ids else selectors.job_search(**filters)
    no_fingerprint = Value(None, output_field=CharField())
    return jobs.active().order_by().values_list("id", "entrypoint", "status", no_fingerprint)


def _dlq_rows(filters: dict[str, Any], ids: list[str] | None) -> QuerySet:
    """The DLQ entries a retry reaches, as rows of the freeze: (job id, entry point, status, fingerprint).

    Every entry's job is failed and the entry keeps its entry point, so a filter on
    nothing else reads the DLQ alone; the job table is joined only for params, q,
    priority or another status.
    """
    entries = DLQEntry.objects.filter(job_id__in=ids) if ids else DLQEntry.objects.all()
    if filters.get("entrypoint"):
        entries = entries.filter(entrypoint=filters["entrypoint"])
    needs_jobs = set(filters) - {"entrypoint"} - ({"status"} if filters.get("status") == Status.FAILED else set())
    if needs_jobs:
        # Every filter, status included: the job table's indexes narrow the join.
        entries = entries.filter(job__in=selectors.job_search(**filters))
    return entries.order_by().values_list("job_id", "entrypoint", Value(Status.FAILED.value), "fingerprint")


def _freeze_in_one_statement(rows: QuerySet, selection: BulkSelection) -> tuple[int, list]:
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            _FREEZE.format(rows=sql),
            [
                *params,
                selection.id,
                selection.action,
                selection.created_by,
                selection.created_at,
                selection.expires_at,
                json.dumps(selection.filter),
            ],
        )
        total, breakdown = cursor.fetchone()
    return total, json.loads(breakdown) if isinstance(breakdown, str) else breakdown


def _freeze_in_python(rows: QuerySet, selection: BulkSelection) -> tuple[int, list]:
    """SQLite (the local run): the same row, built from the rows read once in a write transaction."""
    found = list(rows)
    counted = Counter((entrypoint, status, fingerprint) for _, entrypoint, status, fingerprint in found)
    selection.breakdown = [
        [*key, n] for key, n in sorted(counted.items(), key=lambda item: (-item[1], *map(str, item[0])))
    ]
    if found:
        selection.ids, selection.total = BulkSelection.pack_ids(job_id for job_id, *_ in found), len(found)
        selection.save(force_insert=True)
        selection.ids = b""  # kept in the row; the answer never carries them
    return len(found), selection.breakdown


def _done(action: str) -> str:
    return {"cancel": "canceled", "retry": "retried from the DLQ", "force_fail": "force-failed"}[action]


def _effect(action: str, breakdown: list[list[Any]]) -> dict[str, Any]:
    """What running it would do to the queue, as the queue stands now."""
    cfg = config_get()
    counts = selectors.tallies()
    queued = counts.get(f"status:{Status.QUEUED}", 0)
    limit = queue_limit(cfg)
    by_status: Counter[str] = Counter()
    for _, status, _, n in breakdown:
        by_status[status] += n
    effect: dict[str, Any] = {
        "queuedNow": queued,
        "utilizationNow": utilization_percent(queued, cfg.queue.maxQueueSize),
        "backpressureAt": limit,
    }
    if action == BulkSelection.Kind.RETRY:
        # Paced like a retry-all: new jobs fill the queue up to a tenth below the threshold, the rest wait.
        new = sum(by_status.values())
        fits = max(min(new, paced_limit(cfg) - queued), 0)
        return {**effect, "newQueued": new, "fitNow": fits, "waitForRoom": new - fits, "pacedLimit": paced_limit(cfg)}
    freed = by_status[Status.QUEUED]
    after = max(queued - freed, 0)
    return {
        **effect,
        "freedQueued": freed,
        "freedRunning": by_status[Status.RUNNING],
        "freedWaiting": by_status[Status.WAITING_APPROVAL],
        "queuedAfter": after,
        "utilizationAfter": utilization_percent(after, cfg.queue.maxQueueSize),
        "backpressureAfter": after >= limit,
    }


# A dry run never run keeps its row (the freeze's audit entry names it) but not its ids past this.
FORGET_AFTER = timedelta(days=1)


def selections_forget_expired(now) -> int:
    """Drop the ids of dry runs that expired unrun a day ago (the reconciler's tick): up to 1.6 MB each."""
    stale = BulkSelection.objects.filter(state=BulkSelection.State.FROZEN, expires_at__lt=now - FORGET_AFTER)
    return stale.exclude(ids=b"").update(ids=b"")


def selection_for_run(*, actor: Actor, selection_id) -> BulkSelection:
    """Lock a selection its creator may run now: 404 unknown, 409 another's, already run or expired.

    Call inside the transaction that starts the run; the caller has authorized its kind.
    """
    selection = BulkSelection.objects.select_for_update().defer("ids").filter(id=_uuid(selection_id)).first()
    if selection is None:
        raise NotFound(f"selection {selection_id} not found")
    if selection.created_by != actor.name:
        raise Conflict(f"selection {selection.id} was frozen by {selection.created_by}; freeze your own dry run")
    if selection.state != BulkSelection.State.FROZEN:
        raise Conflict(f"selection {selection.id} has already run (operation {selection.operation_id})")
    if selection.expired:
        raise Conflict(
            f"selection {selection.id} expired at {selection.expires_at:%H:%M:%S %Z}: freeze it again to see what "
            "it would hit now"
        )
    return selection


def selection_kind(selection_id) -> str:
    """The kind of a selection (to authorize its run before anything else), or 404."""
    kind = BulkSelection.objects.filter(id=_uuid(selection_id)).values_list("action", flat=True).first()
    if kind is None:
        raise NotFound(f"selection {selection_id} not found")
    return kind


def _uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"selection {value} not found") from None


def selection_started(*, actor: Actor, selection: BulkSelection, operation_id, reason: str) -> None:
    """Mark the selection as run by ``operation_id``, and write the run's audit entry. Inside the run's transaction."""
    selection.state, selection.operation_id, selection.reason = BulkSelection.State.STARTED, operation_id, reason
    selection.save(update_fields=["state", "operation", "reason"])
    audit_record(
        actor,
        action="jobs.bulk_run",
        object_type="selection",
        object_ids=[str(selection.id)],
        reason=reason,
        before={"action": selection.action, "filter": selection.filter, "frozen": selection.total},
        after={"operation": str(operation_id), "breakdown": selection.breakdown},
    )


def bulk_apply(*, actor: Actor, selection: BulkSelection, job_ids: list[str], reason: str, room: int | None) -> int:
    """Act on one batch of the frozen ids; those no longer reachable are skipped. Returns how many it changed.

    For retry, ``room`` is how many new jobs fit below the pace, counted by the caller
    under the queue's lock in this same transaction.
    """
    context = {"selection": str(selection.id)}
    if selection.action == BulkSelection.Kind.CANCEL:
        return len(jobs_cancel(actor=actor, job_ids=job_ids, reason=reason, action="jobs.bulk_run", context=context))
    if selection.action == BulkSelection.Kind.FORCE_FAIL:
        return len(
            jobs_force_fail(actor=actor, job_ids=job_ids, reason=reason, action="jobs.bulk_run", context=context)
        )
    retried = dlq_retry_entries(actor=actor, job_ids=job_ids, reason=reason, action="jobs.bulk_run", room=room)
    return len(retried.new_ids)


def selection_finished(*, actor: Actor, selection: BulkSelection, result: dict[str, Any], state: str) -> None:
    """The run's last word in the trail: how many changed and how many were skipped. Inside a transaction."""
    audit_record(
        actor,
        action="jobs.bulk_run",
        object_type="selection",
        object_ids=[str(selection.id)],
        reason=selection.reason,
        before={"action": selection.action, "frozen": selection.total},
        after={"state": state, "changed": result.get("changed", 0), "skipped": result.get("skipped", 0)},
    )
