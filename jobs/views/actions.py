"""The console's door onto the action catalog: one view serves every runbook button.

Each action with a console door gets a URL (jobs/urls.py builds them from the
catalog); posting its form performs the action as the signed-in user, then shows
the page the action belongs to with one line saying what happened, or the
progress of the background operation it started.
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
from jobs.actions.perform import action_named, perform
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
    outcome = perform(
        action,
        Actor.for_request(request),
        form_values(request.POST, performed.input),
        door="console",
        target=target,
    )
    if outcome.operation_id:
        if request.htmx:
            operation = selectors.operation(outcome.operation_id)
            return page(request, "jobs/operation.html", {"operation": operation}, partial="progress")
        return redirect("jobs:operation-detail", operation_id=outcome.operation_id)
    return done(request, outcome.message, back_url(performed, target))
