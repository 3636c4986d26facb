"""The incident timeline: a window's events, operator actions and health changes in time order, and its exports."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from jobs import entrypoints
from jobs.pagination import parse_limit
from jobs.selectors.timeline import DEFAULT_LIMIT, KINDS, MAX_WINDOW, jobs_involved, timeline_page, timeline_window
from jobs.services.errors import InvalidInput
from jobs.services.timeline_export import FORMATS, timeline_export
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, service_errors


@login_required
@require_GET
@service_errors
def incident_timeline(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Viewers and up: actions show who, what, why and on which jobs; before/after stay on the audit page."""
    require_perm(request, "jobs.view_console")
    query = request.GET
    window = timeline_window(
        since=query.get("since"),
        until=query.get("until"),
        kind=query.get("kind"),
        job=query.get("job"),
        entrypoint=query.get("entrypoint"),
    )
    format = query.get("format") or ""
    if format:
        if format not in FORMATS:
            raise InvalidInput(f"format: must be one of {', '.join(FORMATS)}")
        lines, content_type, name = timeline_export(window, format)
        response = StreamingHttpResponse(lines, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    cursor = query.get("cursor")
    result = timeline_page(window, cursor=cursor, limit=parse_limit(query.get("limit"), default=DEFAULT_LIMIT))
    context = {
        "window": window,
        "page": result,
        "kinds": KINDS,
        "entrypoints": entrypoints.names(),
        "max_days": MAX_WINDOW.days,
    }
    if cursor and request.htmx:
        # "Load more": the next rows only, in place of the button that asked for them.
        return page(request, "jobs/timeline.html", context, partial="rows")
    context["involved"] = jobs_involved(window)
    return page(request, "jobs/timeline.html", context, partial="timeline")
