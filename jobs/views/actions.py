"""The console's door onto the action catalog: one view serves every runbook button.

Each action with a console door gets a URL (jobs/urls.py builds them from the
catalog); posting its form performs the action as the signed-in user, then shows
the page the action belongs to with one line saying what happened, or the
progress of the background operation it started.

A bulk action (one with a ``preview`` in the catalog) is never performed on the
first post: that answers its confirmation step, how many jobs or entries it will
hit by entry point, with the reason (and phrase) to type. Only a post carrying
the preview's token, while it still holds, performs it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from pydantic import BaseModel

from jobs import selectors
from jobs.actions.catalog import Action
from jobs.actions.perform import action_authorize, action_named, perform
from jobs.actions.previews import Preview
from jobs.services.audit import Actor
from jobs.views.common import HtmxHttpRequest, done, login_required, page, service_errors


def form_values(post: QueryDict, model: type[BaseModel]) -> dict[str, Any]:
    """The posted fields an input model reads; a list field takes every value of its name."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in post:
            continue
        many = getattr(info.annotation, "__origin__", None) is list
        values[name] = post.getlist(name) if many else post.get(name)
    return values


def back_url(action: Action, target: Any) -> str:
    door = action.console
    assert door is not None
    return reverse(door.back, args=[target] if door.back_with_target else [])


@login_required
@require_POST
@service_errors
def action_view(request: HtmxHttpRequest, *, action: str, target: Any = None) -> HttpResponse:
    performed = action_named(action)
    actor = Actor.for_request(request)
    if performed.preview is not None:
        action_authorize(performed, actor, target)  # a role that may not act sees no preview either
        preview = performed.preview(target, form_values(request.POST, performed.input))
        shown = request.POST.get("previewed")
        if shown != preview.token:
            return confirm_step(request, performed, target, preview, changed=shown is not None)
    outcome = perform(action, actor, form_values(request.POST, performed.input), door="console", target=target)
    if outcome.operation_id:
        if request.htmx:
            operation = selectors.operation(outcome.operation_id)
            return page(request, "jobs/operation.html", {"operation": operation}, partial="progress")
        return redirect("jobs:operation-detail", operation_id=outcome.operation_id)
    return done(request, outcome.message, back_url(performed, target))


def confirm_step(
    request: HtmxHttpRequest, action: Action, target: Any, preview: Preview, *, changed: bool
) -> HttpResponse:
    """The confirmation of a bulk action; 409 when what it would hit changed since it was shown."""
    reason = action.input.model_fields.get("reason")
    carried = {
        name: value
        for name, value in form_values(request.POST, action.input).items()
        if name not in {"reason", "confirm"}
    }
    context = {
        "action": action,
        "preview": preview,
        "changed": changed,
        "post_url": request.path,
        "back": back_url(action, target),
        "hidden": [
            (name, v) for name, value in carried.items() for v in (value if isinstance(value, list) else [value])
        ],
        "reason": "none" if reason is None else ("required" if reason.is_required() else "optional"),
        "typed_reason": request.POST.get("reason", ""),
        "hx_target": request.htmx.target if request.htmx else "",
    }
    return page(request, "jobs/confirm.html", context, partial="confirm", status=409 if changed else 200)
