"""Four eyes for the destructive actions: one admin asks, a second admin confirms, then it runs.

Which actions need it is a deployment setting (JOBS_FOUR_EYES), not a runtime
one, so no admin can switch it off alone. A request keeps the action's validated
input, so the second admin confirms exactly what was asked; it expires after
JOBS_FOUR_EYES_MINUTES. The request, its confirmation (or rejection, or expiry)
and the action itself are each one audit entry.

Running the confirmed action is the catalog's part (jobs.actions.effects): services
do not know the catalog.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import ActionRequest
from jobs.services.audit import Actor, audit_record, deny
from jobs.services.errors import Conflict, NotFound

REQUEST = "request"  # the audit trail's object type


def four_eyes_on(action: str) -> bool:
    """Whether JOBS_FOUR_EYES names ``action`` (or says "on"); the catalog says which actions may need it."""
    named = {str(name).strip().lower() for name in settings.JOBS_FOUR_EYES}
    return action in named or "on" in named


def action_request_create(
    *, actor: Actor, action: str, target: Any, data: dict[str, Any], reason: str
) -> ActionRequest:
    """Record that ``actor`` asks for ``action``; nothing else changes until a second admin confirms."""
    now = timezone.now()
    with transaction.atomic():
        request = ActionRequest.objects.create(
            action=action,
            target="" if target is None else str(target),
            input=data,
            reason=reason,
            requested_by=actor.name,
            requested_via=actor.source,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.JOBS_FOUR_EYES_MINUTES),
        )
        audit_record(
            actor,
            action="four_eyes.request",
            object_type=REQUEST,
            object_ids=[request.id],
            reason=reason,
            after={"action": action, "target": request.target or None, "expiresAt": request.expires_at.isoformat()},
        )
    return request


def action_request_confirm(*, actor: Actor, request_id) -> ActionRequest:
    """Mark the request confirmed by a second admin (the caller then runs its action).

    Refused (and audited as denied) for the admin who asked; 409 when it is no longer
    pending or has expired (an expired one is marked so, and nothing runs).
    """
    request = _request(request_id)
    if actor.name == request.requested_by:
        deny(
            actor,
            action="four_eyes.confirm",
            object_type=REQUEST,
            object_ids=[request.id],
            reason="a second admin must confirm: the admin who asked may not",
        )
    with transaction.atomic():
        request = ActionRequest.objects.select_for_update().get(id=request.id)
        _ensure_pending(request)
        expired = request.expires_at <= timezone.now()
        if expired:
            _decide(request, actor, ActionRequest.State.EXPIRED, "four_eyes.expired")
        else:
            _decide(request, actor, ActionRequest.State.CONFIRMED, "four_eyes.confirm")
    if expired:
        raise Conflict(f"request {request.id} expired at {request.expires_at.isoformat()}: nothing ran; ask again")
    return request


def action_request_reject(*, actor: Actor, request_id, reason: str) -> ActionRequest:
    """Turn a pending request down (the admin who asked may withdraw it too)."""
    with transaction.atomic():
        request = ActionRequest.objects.select_for_update().filter(id=request_id).first()
        if request is None:
            raise NotFound(f"request {request_id} not found")
        _ensure_pending(request)
        _decide(request, actor, ActionRequest.State.REJECTED, "four_eyes.reject", reason=reason)
    return request


def action_request_finish(request: ActionRequest, *, result: dict[str, Any] | None, message: str) -> None:
    """What the confirmed action did, or why it refused (``result`` None): shown with the request."""
    request.result = result
    request.message = message
    if result is None:
        request.state = ActionRequest.State.FAILED
    request.save(update_fields=["result", "message", "state"])


def action_requests_expire_due(now=None) -> int:
    """Mark pending requests past their time expired (the reconciler's tick); each is audited."""
    now = now or timezone.now()
    expired = 0
    for request_id in ActionRequest.objects.filter(state=ActionRequest.State.PENDING, expires_at__lte=now).values_list(
        "id", flat=True
    )[:100]:
        with transaction.atomic():
            request = ActionRequest.objects.select_for_update(skip_locked=True).filter(id=request_id).first()
            if request is not None and request.state == ActionRequest.State.PENDING:
                _decide(request, Actor.system("four-eyes"), ActionRequest.State.EXPIRED, "four_eyes.expired")
                expired += 1
    return expired


def _request(request_id) -> ActionRequest:
    request = ActionRequest.objects.filter(id=request_id).first()
    if request is None:
        raise NotFound(f"request {request_id} not found")
    return request


def _ensure_pending(request: ActionRequest) -> None:
    if request.state != ActionRequest.State.PENDING:
        who = f" by {request.decided_by}" if request.decided_by else ""
        raise Conflict(f"request {request.id} is already {request.state}{who}")


def _decide(request: ActionRequest, actor: Actor, state: str, audit_action: str, *, reason: str = "") -> None:
    request.state = state
    request.decided_by = actor.name
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "decided_by", "decided_at"])
    audit_record(
        actor,
        action=audit_action,
        object_type=REQUEST,
        object_ids=[request.id],
        reason=reason or request.reason,
        before={"action": request.action, "requestedBy": request.requested_by, "state": "pending"},
        after={"state": state, "expiresAt": request.expires_at.isoformat()},
    )
