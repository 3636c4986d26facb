"""A job's attempts, read from its events: the job page, GET /api/jobs/{id} and `jobs show`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from jobs.models import Event


@dataclass(frozen=True)
class Attempt:
    """One run of a job's entry point: who ran it, when, and how it ended (with its traceback)."""

    number: int
    worker: str
    started_at: datetime
    ended_at: datetime | None
    # succeeded, retrying, failed, waiting_approval, canceled; "running" while it runs.
    outcome: str
    error: str
    exception: str
    traceback: str


# Events that end the attempt under way. A cancel or a force-fail ends it only while it
# runs: one of a queued or waiting job ends no attempt, and is left out by the pairing.
_ATTEMPT_ENDS = ("job:succeeded", "job:retrying", "job:failed", "job:waiting_approval", "job:canceled")


def job_attempts(events: Iterable[Event]) -> list[Attempt]:
    """Every attempt of a job, oldest first, from its events (they are never deleted)."""
    attempts: list[Attempt] = []
    for event in sorted(events, key=lambda e: e.id):
        if event.type == "job:started":
            attempts.append(_attempt_started(event, len(attempts) + 1))
        elif event.type in _ATTEMPT_ENDS and attempts and attempts[-1].ended_at is None:
            attempts[-1] = _attempt_ended(attempts[-1], event)
    return attempts


def _attempt_started(event: Event, ordinal: int) -> Attempt:
    data = event.data or {}
    return Attempt(
        number=int(data.get("attempt") or ordinal),
        worker=str(data.get("worker") or ""),
        started_at=event.created_at,
        ended_at=None,
        outcome="running",
        error="",
        exception="",
        traceback="",
    )


def _attempt_ended(attempt: Attempt, event: Event) -> Attempt:
    data = event.data or {}
    return Attempt(
        number=attempt.number,
        worker=attempt.worker,
        started_at=attempt.started_at,
        ended_at=event.created_at,
        outcome=event.type.removeprefix("job:"),
        error=str(data.get("error") or data.get("reason") or ""),
        exception=str(data.get("exception") or ""),
        traceback=str(data.get("traceback") or ""),
    )
