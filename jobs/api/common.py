"""Helpers every router uses: the acting user, read permission, keyset pages, catalog actions."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status
from pydantic import BaseModel

from jobs import selectors
from jobs.actions.catalog import ACTIONS
from jobs.actions.perform import action_run
from jobs.api.auth import action_auth
from jobs.api.schemas import RequestStartedOut, errors
from jobs.pagination import Page, keyset_page, parse_limit
from jobs.services.audit import Actor


def actor(request: HttpRequest) -> Actor:
    """The caller as services see it; the audit trail records source "api"."""
    return Actor.for_request(request, source="api")


def require_perm(request: HttpRequest, perm: str = "jobs.view_console") -> None:
    """Reads need a role; mutations are authorized (and audited) by their service."""
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


def params_of(request: HttpRequest, spec: str | None) -> dict | None:
    """The params filter of a list: ``?params=...`` and every ``?params.<path>=value`` (400 when malformed)."""
    terms = [f"{key}={value}" for key, values in request.GET.lists() if key.startswith("params.") for value in values]
    return selectors.params_filter(spec, terms=terms)


def page_of(queryset, *, cursor: str | None, limit: int | None, fields: tuple[str, ...]) -> Page:
    return keyset_page(queryset, cursor=cursor or None, limit=parse_limit(limit), fields=fields)


def action_route(router: Router, name: str, *, response: dict, codes: tuple[int, ...] = (400,), **options):
    """Register the decorated function as the API door of the catalog action ``name``.

    Method and path come from the catalog; the route authorizes the action before
    its body is read (``action_auth``), then django-ninja validates the body with
    the action's own input model.
    """
    action = ACTIONS[name]
    if action.four_eyes:  # under four eyes it answers 202 with the request a second admin confirms
        response = {**response, 202: response[202] | RequestStartedOut if 202 in response else RequestStartedOut}
    return router.api_operation(
        [action.api_method],
        action.api_path,
        auth=action_auth(name),
        response={**response, **errors(*codes)},
        summary=action.title,
        **options,
    )


def answer(request: HttpRequest, name: str, payload: BaseModel | None = None, target=None):
    """Run an authorized action on its validated body; the answer is the action's outcome."""
    action = ACTIONS[name]
    data = payload if payload is not None else action.input()
    outcome = action_run(action, actor(request), data, target, door="api")
    return Status(outcome.status, outcome.data)
