"""Filtered lists: jobs, approvals, the DLQ and its groups, events, the audit trail, exports."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Min, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from jobs.jobsconfig import JobsSettings
from jobs.models import (
    AuditEntry,
    DLQEntry,
    Event,
    Job,
    Priority,
    Status,
)
from jobs.selectors.params import params_condition
from jobs.selectors.stats import tallies
from jobs.services.errors import InvalidInput


def low_priority_queued():
    """What backpressure relief cancels: queued low-priority jobs."""
    return Job.objects.queued().filter(priority=Priority.LOW)


def waiting_approval_jobs():
    return Job.objects.waiting().order_by("approval_expires_at", "id")


def expiry_warning_horizon(cfg: JobsSettings):
    """Waiting jobs that expire before this instant are flagged as expiring."""
    return timezone.now() + timedelta(hours=cfg.approval.expiryWarningHours)


def expiring_jobs(cfg: JobsSettings):
    """Waiting jobs whose approval expires within approval.expiryWarningHours."""
    return waiting_approval_jobs().filter(approval_expires_at__lte=expiry_warning_horizon(cfg))


def expiring_named(cfg: JobsSettings, named: int) -> tuple[list[Job], int]:
    """The first ``named`` expiring jobs and how many expire in all (counted only when there are more)."""
    expiring = expiring_jobs(cfg)
    first = list(expiring[:named])
    return first, expiring.count() if len(first) == named else len(first)


def waiting_with_expiry_flag(cfg: JobsSettings):
    """Waiting jobs, each with ``expiring`` computed by the database."""
    soon = Q(approval_expires_at__lte=expiry_warning_horizon(cfg))
    return waiting_approval_jobs().annotate(expiring=ExpressionWrapper(soon, output_field=BooleanField()))


def job_search(
    *,
    status: str | None = None,
    priority: str | None = None,
    entrypoint: str | None = None,
    q: str | None = None,
    params: dict[str, Any] | None = None,
):
    """Jobs filtered as the console's Jobs page and GET /api/jobs filter them.

    ``q`` matches an id (exactly), a jobKey (prefix) or lastError (contains);
    ``params`` is a containment document of jobs.selectors.params.
    """
    jobs = Job.objects.all()
    if params:
        jobs = jobs.filter(params_condition(params))
    if status:
        if status not in Status.values:
            raise InvalidInput(f"status: must be one of {', '.join(Status.values)}")
        jobs = jobs.filter(status=status)
    if priority:
        try:
            jobs = jobs.filter(priority=Priority.from_label(priority))
        except ValueError as exc:
            raise InvalidInput(f"priority: {exc}") from None
    if entrypoint:
        jobs = jobs.filter(entrypoint=entrypoint)
    if q:
        q = q.strip()
        condition = Q(job_key__startswith=q) | Q(last_error__icontains=q)
        with contextlib.suppress(ValueError):
            condition |= Q(id=uuid.UUID(q))
        jobs = jobs.filter(condition)
    return jobs


def jobs_for_export():
    """Every job, oldest first, with its DLQ entry: what the JSONL export writes."""
    return Job.objects.order_by("created_at", "id").select_related("dlq_entry")


def _event_type(type: str | None) -> str | None:
    from jobs.services.events import EVENT_TYPES

    if type and type not in EVENT_TYPES:
        raise InvalidInput(f"type: must be one of {', '.join(EVENT_TYPES)}")
    return type or None


def events(*, type: str | None = None):
    """Events of one type, or all, for a keyset page; an unknown type is refused, not an empty list."""
    type = _event_type(type)
    return Event.objects.filter(type=type) if type else Event.objects.all()


def dlq_entries(*, reason: str | None = None, fingerprint: str | None = None, params: dict[str, Any] | None = None):
    entries = DLQEntry.objects.select_related("job")
    if params:
        entries = entries.filter(params_condition(params, field="job__params"))
    if reason:
        entries = entries.filter(reason__icontains=reason)
    if fingerprint:
        entries = entries.filter(fingerprint=fingerprint)
    return entries


def dlq_count(
    *, reason: str | None = None, fingerprint: str | None = None, params: dict[str, Any] | None = None
) -> int:
    """How many entries match; the whole DLQ is counted from the running tally, not by a scan."""
    if not reason and not fingerprint and not params:
        return tallies().get("dlq", 0)
    return dlq_entries(reason=reason, fingerprint=fingerprint, params=params).count()


# A DLQ list filtered by params counts its matches up to here: counting every match of a
# common value joins each entry to its job (a third of 100,000 entries took 300 ms).
DLQ_MATCH_COUNT_CAP = 1_000


def dlq_count_capped(
    *, reason: str | None = None, fingerprint: str | None = None, params: dict[str, Any] | None = None
) -> tuple[int, bool]:
    """(how many entries match, whether there are more than that): exact without a params filter."""
    if not params:
        return dlq_count(reason=reason, fingerprint=fingerprint), False
    found = dlq_entries(reason=reason, fingerprint=fingerprint, params=params)[: DLQ_MATCH_COUNT_CAP + 1].count()
    return min(found, DLQ_MATCH_COUNT_CAP), found > DLQ_MATCH_COUNT_CAP


class DlqGroup(TypedDict):
    """One row of dlq_groups."""

    fingerprint: str
    count: int
    first: datetime
    last: datetime
    sample: str


def dlq_groups() -> list[DlqGroup]:
    """DLQ entries grouped by error fingerprint, largest group first, with a sample error."""
    groups = list(
        DLQEntry.objects.order_by()
        .values("fingerprint")
        .annotate(count=Count("job"), first=Min("added_at"), last=Max("added_at"), sample=Max("last_error"))
        .order_by("-count", "fingerprint")
    )
    return groups


def events_feed(*, after: int | None = None, type: str | None = None, limit: int = 100):
    """Events after an id (oldest first, for a live feed) or the latest ones (newest first)."""
    events = Event.objects.all()
    if type := _event_type(type):
        events = events.filter(type=type)
    if after is not None:
        return list(events.filter(id__gt=after).order_by("id")[:limit])
    return list(events.order_by("-id")[:limit])


def _names_object(object_id: str):
    """Entries whose object_ids hold ``object_id``: jsonb containment, or json_each on SQLite (no ``contains``)."""
    if connection.vendor != "sqlite":
        return Q(object_ids__contains=[object_id])
    return RawSQL(
        "EXISTS (SELECT 1 FROM json_each(jobs_auditentry.object_ids) WHERE json_each.value = %s)",
        [object_id],
        output_field=BooleanField(),
    )


def audit_entries(
    *, actor: str | None = None, action: str | None = None, object_id: str | None = None, since=None, until=None
):
    entries = AuditEntry.objects.all()
    if actor:
        entries = entries.filter(actor=actor)
    if action:
        entries = entries.filter(action=action)
    if object_id:
        entries = entries.filter(_names_object(object_id))
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return entries
