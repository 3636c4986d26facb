"""GET /api/incident: the incident timeline of a window as JSON (or, with ?format, its JSONL / CSV export)."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema

from jobs.actions.fields import Text
from jobs.api.common import require_perm
from jobs.api.schemas import errors
from jobs.selectors.timeline import DEFAULT_LIMIT, MAX_LIMIT, jobs_involved, timeline_page, timeline_window
from jobs.services.timeline_export import involved_to_dict, timeline_export, timeline_row_to_dict, window_to_dict

router = Router(tags=["feeds"])


class IncidentQuery(Schema):
    since: Text | None = Field(None, max_length=64, description="ISO 8601; no zone means UTC; default until - 1 h")
    until: Text | None = Field(None, max_length=64, description="ISO 8601, excluded; default now")
    kind: Literal["event", "action", "health"] | None = None
    job: Text | None = Field(None, max_length=64, description="only this job's rows (and health changes)")
    entrypoint: Text | None = Field(None, max_length=200)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: Text | None = Field(None, max_length=500, description="nextCursor of the previous page")
    format: Literal["jsonl", "csv"] | None = Field(None, description="every row of the window, streamed")


class WindowOut(Schema):
    since: str
    until: str
    kind: str | None
    job: str | None
    entrypoint: str | None


class TimelineRowOut(Schema):
    at: str
    kind: Literal["event", "action", "health"]
    what: str
    who: str | None
    jobs: list[str]
    reason: str | None
    outcome: str | None
    source: str | None
    id: int
    detail: dict[str, Any]


class InvolvedJobOut(Schema):
    id: str
    entrypoint: str | None
    status: str | None
    events: int
    failures: int
    firstAt: str
    lastAt: str


class InvolvedOut(Schema):
    items: list[InvolvedJobOut]
    total: int
    eventsCounted: int
    complete: bool


class IncidentOut(Schema):
    window: WindowOut
    items: list[TimelineRowOut]
    nextCursor: str | None
    jobs: InvolvedOut | None = Field(None, description="the jobs involved; on the first page only")


@router.get(
    "/incident",
    response={200: IncidentOut, **errors(400)},
    openapi_extra={
        "responses": {
            200: {
                "description": "The timeline page as JSON; with ?format, every row as JSONL or CSV",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/IncidentOut"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
def incident(request: HttpRequest, query: Query[IncidentQuery]):
    """Events, operator actions and health changes of [since, until), oldest first, one keyset page at a time."""
    require_perm(request)
    window = timeline_window(
        since=query.since, until=query.until, kind=query.kind, job=query.job, entrypoint=query.entrypoint
    )
    if query.format:
        lines, content_type, name = timeline_export(window, query.format)
        response = StreamingHttpResponse(lines, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    page = timeline_page(window, cursor=query.cursor, limit=query.limit)
    return {
        "window": window_to_dict(window),
        "items": [timeline_row_to_dict(row) for row in page.rows],
        "nextCursor": page.next_cursor,
        "jobs": None if query.cursor else involved_to_dict(jobs_involved(window)),
    }
