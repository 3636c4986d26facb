"""Read-only feeds: approvals, events and the audit trail (with its CSV export)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router

from jobs import selectors
from jobs.api.common import action_route, actor, answer, page_of, require_perm
from jobs.api.schemas import (
    AuditListQuery,
    AuditPageOut,
    AuditQuery,
    EventListQuery,
    EventPageOut,
    ItemsOut,
    OperationStartedOut,
    errors,
)
from jobs.representations import audit_entry_to_dict, event_to_dict, job_to_dict
from jobs.services.audit import authorize
from jobs.services.audit_export import audit_csv_rows
from jobs.services.config import config_get

router = Router(tags=["feeds"])


@router.get("/approvals", response={200: ItemsOut, **errors(400)})
def approval_list(request: HttpRequest, expiring: bool = False):
    """Jobs waiting for approval, soonest expiry first; ?expiring=true: within expiryWarningHours."""
    require_perm(request)
    jobs = selectors.expiring_jobs(config_get()) if expiring else selectors.waiting_approval_jobs()
    return {"items": [job_to_dict(job) for job in jobs[:1000]]}


@router.get("/events", response={200: EventPageOut, **errors(400)})
def event_list(request: HttpRequest, query: Query[EventListQuery]):
    """The events feed: with ?after, the events since that id (oldest first, for a live feed);
    without, the newest first one page at a time."""
    require_perm(request)
    if query.after is not None:
        events = selectors.events_feed(after=query.after, type=query.type, limit=query.limit)
        return {"items": [event_to_dict(e) for e in events], "nextCursor": None}
    page = page_of(selectors.events(type=query.type), cursor=query.cursor, limit=query.limit, fields=("id",))
    return {"items": [event_to_dict(e) for e in page.items], "nextCursor": page.next_cursor}


def _audit_queryset(request: HttpRequest, query: AuditQuery, *, what: str):
    # Reading the trail is itself sensitive: a refusal is recorded like any other.
    authorize(actor(request), "jobs.view_audit", action=what, object_type="audit")
    return selectors.audit_entries(actor=query.actor, action=query.action, since=query.since, until=query.until)


@router.get("/audit", response={200: AuditPageOut, **errors(400)})
def audit_list(request: HttpRequest, query: Query[AuditListQuery]):
    """The audit trail, newest first (auditor, admin)."""
    entries = _audit_queryset(request, query, what="audit.read")
    page = page_of(entries, cursor=query.cursor, limit=query.limit, fields=("id",))
    return {"items": [audit_entry_to_dict(e) for e in page.items], "nextCursor": page.next_cursor}


@router.get(
    "/audit/export.csv",
    response={200: None, **errors(400)},
    openapi_extra={
        "responses": {
            200: {
                "description": "The trail as CSV, oldest first",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def audit_export(request: HttpRequest, query: Query[AuditQuery]):
    """The audit trail as CSV, streamed (auditor, admin)."""
    entries = _audit_queryset(request, query, what="audit.export")
    response = StreamingHttpResponse(audit_csv_rows(entries.order_by("id")), content_type="text/csv; charset=utf-8")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")  # noqa: DTZ005 - only names the file
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@action_route(router, "audit.verify", response={202: OperationStartedOut}, codes=())
def audit_verify_all(request: HttpRequest):
    """Verify every chain of the trail from its first entry, in the background: 202 with the operation."""
    return answer(request, "audit.verify")
