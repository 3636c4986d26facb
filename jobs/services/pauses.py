"""Pausing one entry point or one priority, beside the global switch (worker.enabled).

A paused job stays queued: it counts for backpressure as before, keeps its place in
the admission order, and starts once resumed. Admission skips it
(jobs.engine.admission and Job.objects.due both read the Pause rows), so a pause
takes effect on the next claim; jobs already running finish.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from jobs import entrypoints
from jobs.engine.wakeups import wake_after_commit
from jobs.models import Job, Pause, Priority
from jobs.selectors.records import paused_queued_count
from jobs.services.audit import Actor, audit_record, required_reason
from jobs.services.config import config_recent
from jobs.services.errors import Conflict, InvalidInput, NotFound
from jobs.services.events import event_emit


def pause_set(
    *, actor: Actor, entrypoint: str | None = None, priority: str | None = None, reason: str
) -> tuple[Pause, int]:
    """Hold back every queued job of ``entrypoint`` (or of ``priority``) until it is resumed.

    Returns the pause and how many queued jobs it holds back (counted up to a cap).
    """
    reason = required_reason(reason)
    fields = _named(entrypoint, priority)
    if entrypoint and entrypoints.get(entrypoint) is None and not Job.objects.filter(entrypoint=entrypoint).exists():
        raise InvalidInput(f"entrypoint: no entry point or job named {entrypoint!r}", {"known": entrypoints.names()})
    try:
        with transaction.atomic():
            pause = Pause.objects.create(**fields, reason=reason, paused_by=actor.name)
            queued = paused_queued_count(pause)
            audit_record(
                actor,
                action="queue.pause",
                object_type="queue",
                object_ids=[pause.what],
                reason=reason,
                before={"paused": False},
                after={"paused": pause.what, "queued": queued},
            )
            event_emit("queue:paused", what=pause.what, by=actor.name, reason=reason, queued=queued)
    except IntegrityError:
        current = Pause.objects.filter(**fields).first()
        since = f" by {current.paused_by} since {current.paused_at.isoformat()}" if current else ""
        raise Conflict(f"{Pause(**fields).what} is already paused{since}") from None
    return pause, queued


def pause_lift(*, actor: Actor, entrypoint: str | None = None, priority: str | None = None, reason: str) -> int:
    """Resume paused work; returns how many queued jobs it lets start again (counted up to a cap)."""
    reason = required_reason(reason)
    fields = _named(entrypoint, priority)
    with transaction.atomic():
        pause = Pause.objects.select_for_update().filter(**fields).first()
        if pause is None:
            raise NotFound(f"{Pause(**fields).what} is not paused")
        queued = paused_queued_count(pause)
        what = pause.what
        pause.delete()
        audit_record(
            actor,
            action="queue.resume",
            object_type="queue",
            object_ids=[what],
            reason=reason,
            before={"paused": what, "since": pause.paused_at.isoformat(), "by": pause.paused_by},
            after={"paused": False, "queued": queued},
        )
        event_emit("queue:resumed", what=what, by=actor.name, reason=reason, queued=queued)
        # Their wake-ups may have been used up while paused: wake workers for the first of them.
        first = Job.objects.due().filter(**fields).in_admission_order().values_list("id", flat=True)
        wake_after_commit(first[: config_recent().queue.maxConcurrent])
    return queued


def _named(entrypoint: str | None, priority: str | None) -> dict[str, Any]:
    """The Pause fields of exactly one of an entry point or a priority."""
    if bool(entrypoint) == bool(priority):
        raise InvalidInput("entrypoint: name one entry point, or one priority instead")
    if entrypoint:
        return {"entrypoint": entrypoint}
    try:
        return {"priority": Priority.from_label(str(priority))}
    except ValueError as exc:
        raise InvalidInput(f"priority: {exc}") from None
