"""Four eyes over the API: the requests that wait for a second admin, confirm and reject."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router

from jobs import selectors
from jobs.actions import inputs
from jobs.api.common import action_route, answer, require_perm
from jobs.api.schemas import ActionRequestPageOut, RequestStartedOut, errors
from jobs.representations import action_request_to_dict

router = Router(tags=["four eyes"])


@router.get("/requests", response={200: ActionRequestPageOut, **errors()})
def request_list(request: HttpRequest):
    """Pending requests first (soonest to expire first), then the latest decided ones."""
    require_perm(request)
    return {"items": [action_request_to_dict(found) for found in selectors.action_requests()]}


@action_route(
    router, "four_eyes.confirm", response={200: dict[str, Any], 202: dict[str, Any]}, codes=(400, 404, 409, 429)
)
def request_confirm(request: HttpRequest, requestId: UUID):
    """Confirm another admin's request: its action runs now and this answers what it answers, with the request."""
    return answer(request, "four_eyes.confirm", None, requestId)


@action_route(router, "four_eyes.reject", response={200: RequestStartedOut}, codes=(400, 404, 409))
def request_reject(request: HttpRequest, requestId: UUID, payload: inputs.Reason):
    """Reject a pending request (the admin who asked may withdraw it): nothing runs."""
    return answer(request, "four_eyes.reject", payload, requestId)
