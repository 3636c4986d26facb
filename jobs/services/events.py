"""Stored events, one per transition, also sent as a Django signal after commit."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jobs.db import insert_rows
from jobs.models import Event, Job
from jobs.signals import job_event

logger = logging.getLogger("jobs.events")

EVENT_TYPES = (
    "job:submitted",
    "job:started",
    "job:succeeded",
    "job:failed",
    "job:retrying",
    "job:dlq",
    "job:retried_from_dlq",
    "job:waiting_approval",
    "job:approved",
    "job:expired",
    "job:canceled",
    "dlq:cleared",
    "dlq:discarded",
    "dlq:cleaned",
    "dlq:evicted",
    # Not a job's transition: system_health's status or set of issues changed (services.health).
    "health:changed",
    # Nor these: an entry point or a priority was paused or resumed (services.pauses).
    "queue:paused",
    "queue:resumed",
)


def event_emit(type: str, *, job: Job | None = None, **data: Any) -> Event:
    """Store the event now and send the signal once the transaction commits."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type}")
    event = Event.objects.create(type=type, job_id=job.id if job else None, data=data)
    transaction.on_commit(lambda: _send(event))
    return event


def event_announce(id: int, type: str, *, job_id, data: dict[str, Any], created_at) -> Event:
    """Send the signal for an event the engine's own SQL has already stored."""
    event = Event(id=id, type=type, job_id=job_id, data=data, created_at=created_at)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _send(event))
    else:
        _send(event)
    return event


def events_emit_many(type: str, jobs: list[Job], **data: Any) -> None:
    """One event per job, alike, written in one INSERT (bulk actions)."""
    events_emit_each(type, [(job, data) for job in jobs])


def _send(event: Event) -> None:
    try:
        job_event.send(sender=Event, event=event)
    except Exception:  # a receiver's bug must not break the engine
        logger.exception("a job_event receiver failed for %s", event.type)


def _send_each(events: list[Event]) -> None:
    for event in events:
        _send(event)


def events_emit_each(type: str, jobs_and_data: list[tuple[Job, dict[str, Any]]]) -> None:
    """One event per job, each with its own data, written in one INSERT (bulk submit, retry-all)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type}")
    if not jobs_and_data:
        return
    if connection.vendor != "postgresql":
        stored = Event.objects.bulk_create([Event(type=type, job_id=job.id, data=data) for job, data in jobs_and_data])
        transaction.on_commit(lambda: _send_each(stored))
        return
    now = timezone.now()
    ids = insert_rows(
        Event, [{"type": type, "job_id": job.id, "data": data, "created_at": now} for job, data in jobs_and_data]
    )
    if job_event.has_listeners(Event):  # model instances only for someone who listens
        events = [
            Event(id=id, type=type, job_id=job.id, data=data, created_at=now)
            for id, (job, data) in zip(ids, jobs_and_data, strict=True)
        ]
        transaction.on_commit(lambda: _send_each(events))
