"""Carrying out an action for a door: authorize first, then validate, then run.

Authorization comes before anything the caller sent is read, so a role without
the permission gets a refusal (403 at the API, the console's 403 page, exit 1 at
the CLI) and exactly one ``denied`` audit entry, whatever it sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from jobs.actions.catalog import ACTIONS, Action, Outcome
from jobs.actions.effects import four_eyes_request
from jobs.actions.validation import invalid_input
from jobs.services.audit import Actor, authorize
from jobs.services.errors import InvalidInput, NotFound
from jobs.services.four_eyes import four_eyes_on


def action_named(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        raise NotFound(f"no action named {name!r}") from None


def action_authorize(action: Action, actor: Actor, target: Any = None) -> None:
    """The one place an action is authorized: refused (PermissionDenied) and audited as denied."""
    object_ids = [target] if action.target == "job" and target is not None else []
    authorize(actor, action.permission, action=action.name, object_type=action.object_type, object_ids=object_ids)


def action_input(action: Action, data: Mapping[str, Any] | None) -> BaseModel:
    """The action's input from what a door received, or InvalidInput naming each bad field."""
    try:
        return action.input.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise invalid_input(exc) from None


def action_run(action: Action, actor: Actor, data: BaseModel, target: Any = None, *, door: str) -> Outcome:
    """Run an authorized action on validated input (or, under four eyes, ask a second admin to)."""
    _check_confirmation(action, data, door)
    if action.four_eyes and four_eyes_on(action.name):
        return four_eyes_request(action.name, action.title, actor, data, target)
    return action.perform(actor, data, target)


Received = Mapping[str, Any] | None


def perform(
    name: str,
    actor: Actor,
    data: Received | Callable[[], Received] = None,
    *,
    door: str,
    target: Any = None,
) -> Outcome:
    """Authorize, validate and run the action ``name`` as ``actor`` asked through ``door``.

    ``data`` may be a function that reads it (a form, a file, a typed phrase): it is
    called only once the actor is authorized, so a refused role is never asked.
    """
    action = action_named(name)
    action_authorize(action, actor, target)
    received = data() if callable(data) else data
    return action_run(action, actor, action_input(action, received), target, door=door)


def _check_confirmation(action: Action, data: BaseModel, door: str) -> None:
    if not action.confirm:
        return
    # The API's contract asks for the phrase only for clear-all, and lets a script
    # send one body (reason, confirm) to every emergency endpoint: elsewhere the
    # API ignores it. The console and the CLI always ask for it.
    if door == "api" and not action.confirm_over_api:
        return
    if getattr(data, "confirm", "") != action.confirm:
        raise InvalidInput(f'confirm: type "{action.confirm}" to confirm')
