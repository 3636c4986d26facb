"""The live events feed: the latest events, then only newer ones (?after=)."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.services.errors import InvalidInput
from jobs.services.events import EVENT_TYPES
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, service_errors


@login_required
@require_GET
@service_errors
def event_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    type_ = request.GET.get("type") or None
    after = request.GET.get("after")
    if after is not None and not after.isdigit():
        raise InvalidInput("after: must be an event id")
    events = selectors.events_feed(after=int(after) if after else None, type=type_, limit=100)
    newest = max((event.id for event in events), default=int(after or 0))
    context = {"events": events, "type": type_ or "", "types": EVENT_TYPES, "newest": newest}
    partial = "new-events" if after is not None else "feed"
    return page(request, "jobs/events.html", context, partial=partial)
