"""What a bulk action will hit, counted before it runs: the console's confirmation step.

An action of the catalog that touches many jobs or DLQ entries at once declares a
``preview``. The console never runs such an action on the first click: it shows
the preview ("6 jobs will be canceled", and how many per entry point) and asks
for the reason (and the phrase, where the action has one). The confirming form
carries the preview's ``token``; when what the action would hit has changed
since (jobs queued or started meanwhile), the console shows the new preview
instead of acting on rows the operator did not see.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from jobs.actions.effects import job_ids
from jobs.models import DLQEntry, Job
from jobs.selectors import low_priority_queued
from jobs.selectors.bulk import active_jobs_among, count_by_entrypoint, dlq_expired_entries, dlq_group_entries
from jobs.services.config import config_get
from jobs.services.errors import InvalidInput


@dataclass(frozen=True)
class Preview:
    """How many rows an action will hit, per entry point, and what happens to them."""

    by_entrypoint: list[tuple[str, int]]
    noun: tuple[str, str]  # singular, plural
    outcome: str  # "will be canceled"

    @property
    def count(self) -> int:
        return sum(n for _, n in self.by_entrypoint)

    @property
    def summary(self) -> str:
        noun = self.noun[0] if self.count == 1 else self.noun[1]
        return f"{self.count} {noun} {self.outcome}"

    @property
    def token(self) -> str:
        """Names what was shown; the confirming form sends it back."""
        shown = "\n".join(f"{name}\t{n}" for name, n in self.by_entrypoint)
        return hashlib.sha256(f"{self.outcome}\n{shown}".encode()).hexdigest()[:20]


PreviewOf = Callable[[Any, Mapping[str, Any]], Preview]  # (target, the posted fields) -> Preview

JOBS = ("job", "jobs")
ENTRIES = ("DLQ entry", "DLQ entries")


def _jobs(rows: QuerySet[Job], outcome: str) -> Preview:
    return Preview(count_by_entrypoint(rows), JOBS, outcome)


def _entries(rows: QuerySet[DLQEntry], outcome: str) -> Preview:
    return Preview(count_by_entrypoint(rows), ENTRIES, outcome)


def cancel_low_priority(target: None, posted: Mapping[str, Any]) -> Preview:
    return _jobs(low_priority_queued(), "will be canceled")


def cancel_selected(target: None, posted: Mapping[str, Any]) -> Preview:
    ids = list(posted.get("ids") or [])
    if not ids:
        raise InvalidInput("ids: required")
    return _jobs(active_jobs_among(job_ids(ids)), "will be canceled")


def dlq_retry_all(fingerprint: str | None, posted: Mapping[str, Any]) -> Preview:
    return _entries(dlq_group_entries(fingerprint), "will be retried as new jobs")


def dlq_clear(target: None, posted: Mapping[str, Any]) -> Preview:
    return _entries(DLQEntry.objects.all(), "will be removed from the DLQ (their jobs stay failed)")


def dlq_clean_expired(target: None, posted: Mapping[str, Any]) -> Preview:
    return _entries(dlq_expired_entries(config_get()), "will be removed from the DLQ as expired")


def force_fail_running(target: None, posted: Mapping[str, Any]) -> Preview:
    return _jobs(Job.objects.running(), "will be force-failed into the DLQ")


def clear_all(target: None, posted: Mapping[str, Any]) -> Preview:
    return _jobs(Job.objects.all(), "will be deleted, after a JSONL export")
