"""One record at a time: a job with its events, an operation, a DLQ entry, settings, a user."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db.models import IntegerField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from jobs.models import (
    ActionRequest,
    BackgroundOperation,
    DLQEntry,
    Event,
    Job,
    Pause,
    RuntimeConfig,
    Status,
)
from jobs.services.errors import NotFound


def job_with_events(job_id, *, limit: int | None = None) -> tuple[Job, list[Event]]:
    """One job and its events, oldest first (the first ``limit`` of them); NotFound when absent."""
    job = Job.objects.select_related("retried_from").filter(id=job_id).first()
    if job is None:
        raise NotFound(f"job {job_id} not found")
    events = Event.objects.filter(job_id=job.id).order_by("id")
    return job, list(events[:limit] if limit else events)


def operation(operation_id) -> BackgroundOperation:
    """A background operation and its progress; NotFound when absent."""
    found = BackgroundOperation.objects.filter(id=operation_id).first()
    if found is None:
        raise NotFound(f"operation {operation_id} not found")
    return found


def operations_under_way(kinds: tuple[str, ...]) -> list[BackgroundOperation]:
    """The operations of these kinds not ended yet (pending, running, waiting for room), oldest first
    (a handful at most)."""
    states = (BackgroundOperation.State.PENDING, BackgroundOperation.State.RUNNING, BackgroundOperation.State.WAITING)
    return list(BackgroundOperation.objects.filter(kind__in=kinds, state__in=states).order_by("created_at")[:10])


def dlq_entry_of(job_id) -> DLQEntry | None:
    return DLQEntry.objects.filter(job_id=job_id).first()


def runtime_config_row() -> RuntimeConfig | None:
    """The settings admins changed in the console, with who changed them last."""
    return RuntimeConfig.objects.filter(pk=1).first()


def user_named(username: str):
    """The console user called ``username``, or None."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).first()


def recent_exports(limit: int = 5) -> list[dict]:
    """The newest JSONL exports written before destructive actions: name, size, when."""
    from jobs.services.export import EXPORT_NAME

    directory = Path(settings.JOBS_EXPORT_DIR)
    if not directory.is_dir():
        return []
    files = [path for path in directory.iterdir() if EXPORT_NAME.match(path.name) and path.is_file()]
    files.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return [
        {"name": path.name, "bytes": path.stat().st_size, "at": datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)}
        for path in files[:limit]
    ]


def action_request(request_id) -> ActionRequest:
    """A four-eyes request; NotFound when absent."""
    found = ActionRequest.objects.filter(id=request_id).first()
    if found is None:
        raise NotFound(f"request {request_id} not found")
    return found


def action_requests(*, limit: int = 50) -> list[ActionRequest]:
    """Pending four-eyes requests first (soonest to expire first), then the latest decided ones."""
    pending = list(ActionRequest.objects.filter(state=ActionRequest.State.PENDING).order_by("expires_at")[:limit])
    decided = ActionRequest.objects.exclude(state=ActionRequest.State.PENDING).order_by("-created_at")
    return pending + list(decided[: max(0, limit - len(pending))])


def action_requests_pending_count() -> int:
    """Pending four-eyes requests not yet past their time (a handful at most)."""
    return ActionRequest.objects.filter(state=ActionRequest.State.PENDING, expires_at__gt=timezone.now()).count()


# Counting the queued jobs of a pause stops here ("10,000 or more"), so a page never scans a backlog.
PAUSED_COUNT_CAP = 10_000


# The queued jobs each pause row holds back, capped, as a column of that row: one of the two
# terms is always 0 (a pause names an entry point or a priority), and each reads its own index.
_HELD_BACK = """
(SELECT count(*) FROM (SELECT 1 FROM jobs_job
    WHERE jobs_job.status = %s AND jobs_job.entrypoint = jobs_pause.entrypoint LIMIT %s) AS by_entrypoint)
+ (SELECT count(*) FROM (SELECT 1 FROM jobs_job
    WHERE jobs_job.status = %s AND jobs_job.priority = jobs_pause.priority LIMIT %s) AS by_priority)
"""


def _held_back() -> RawSQL:
    return RawSQL(  # noqa: S611 - a constant; the values are parameters
        _HELD_BACK, (Status.QUEUED, PAUSED_COUNT_CAP) * 2, output_field=IntegerField()
    )


def pauses() -> list[tuple[Pause, int]]:
    """Each paused entry point or priority, with the queued jobs it holds back (capped), in one query."""
    return [(pause, pause.held_back) for pause in Pause.objects.annotate(held_back=_held_back()).order_by("paused_at")]


def paused_queued_count(pause: Pause) -> int:
    """Queued jobs a stored pause holds back, counted up to PAUSED_COUNT_CAP."""
    return Pause.objects.filter(pk=pause.pk).annotate(held_back=_held_back()).values_list("held_back", flat=True).get()


def paused_names() -> tuple[set[str], set[int]]:
    """The paused entry points and priorities, for marking queued jobs as paused on a page."""
    rows = list(Pause.objects.values_list("entrypoint", "priority"))
    return {entrypoint for entrypoint, _ in rows if entrypoint}, {
        priority for _, priority in rows if priority is not None
    }
