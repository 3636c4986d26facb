"""Health changes, recorded: a ``health:changed`` event whenever system_health's status or set of issues changes.

Health itself is computed on demand from the running counts (selectors.stats);
nothing stored it, so an incident's timeline could not say when the system went
degraded and why. The reconciler calls ``health_record`` on every tick: a few
reads of the tallies and the worker rows, never of the job table, and a write
only when something changed.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from jobs.models import Event
from jobs.selectors.stats import health_issues, queue_stats, tallies, worker_stats
from jobs.services.config import config_get
from jobs.services.events import event_emit

HEALTH_CHANGED = "health:changed"
# Any constant unique to this purpose: two reconcilers on one tick record a change once.
HEALTH_LOCK = 0x48454C54


def health_now() -> dict[str, Any]:
    """{status, issues (codes, sorted), messages}: what a health:changed event keeps."""
    cfg = config_get()
    queue = queue_stats(cfg, tallies())
    issues = health_issues(queue, worker_stats(cfg))
    return {
        "status": "degraded" if issues else "healthy",
        "issues": sorted(issue.code for issue in issues),
        "messages": [issue.message for issue in issues],
    }


def health_last_recorded() -> dict[str, Any] | None:
    """The data of the newest health:changed event (the (type, id) index answers it), or None."""
    last = Event.objects.filter(type=HEALTH_CHANGED).order_by("-id").values_list("data", flat=True).first()
    return last


def health_record() -> Event | None:
    """Store a health:changed event if the status or the set of issue codes differs from the last one.

    Only the codes count: "DLQ has 11 entries" and "DLQ has 12 entries" are one
    issue, so a busy system does not write an event per tick. The first call on a
    new installation records the starting state.
    """
    current = health_now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [HEALTH_LOCK])
        last = health_last_recorded()
        if last and (last.get("status"), last.get("issues")) == (current["status"], current["issues"]):
            return None
        previous = {"status": last.get("status"), "issues": last.get("issues", [])} if last else None
        return event_emit(HEALTH_CHANGED, **current, previous=previous)
