"""What each bulk action would touch now: the rows, and how many per entry point.

The console counts these on its confirmation step (``jobs.actions.previews``),
before the operator confirms; each mirrors the rows its service selects.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from jobs.jobsconfig import JobsSettings
from jobs.models import BulkSelection, DLQEntry, Job
from jobs.selectors.lists import dlq_entries
from jobs.services.errors import NotFound


def count_by_entrypoint(rows: QuerySet, field: str = "entrypoint") -> list[tuple[str, int]]:
    """(entry point, count) pairs, largest first: one GROUP BY, whatever the number of rows."""
    counted = rows.order_by().values(field).annotate(n=Count("pk")).order_by("-n", field)
    return [(row[field], row["n"]) for row in counted]


def dlq_expired_entries(cfg: JobsSettings) -> QuerySet[DLQEntry]:
    """The entries cleanExpiredDLQ removes: added more than dlq.retentionDays ago."""
    cutoff = timezone.now() - timedelta(days=cfg.dlq.retentionDays)
    return DLQEntry.objects.filter(added_at__lt=cutoff)


def dlq_group_entries(fingerprint: str | None) -> QuerySet[DLQEntry]:
    """Every DLQ entry, or those of one error group."""
    return dlq_entries(fingerprint=fingerprint)


def active_jobs_among(ids: list[str]) -> QuerySet[Job]:
    """The jobs of ``ids`` that a cancel still reaches (waiting, queued or running)."""
    return Job.objects.active().filter(id__in=ids)


def bulk_selection(selection_id) -> BulkSelection:
    """A bulk action's frozen selection, without its ids (a dry run's page), or NotFound."""
    selection = BulkSelection.objects.defer("ids").select_related("operation").filter(id=selection_id).first()
    if selection is None:
        raise NotFound(f"selection {selection_id} not found")
    return selection


def matching_count(jobs: QuerySet[Job], cap: int) -> int:
    """How many jobs a filter matches, counted no further than ``cap`` (the Jobs page's "all N matching")."""
    return jobs.order_by()[:cap].count()
