"""What every subcommand shares: the session it runs in, and catalog actions as subcommands.

An action's subcommand is built from the catalog: its options are the fields of
the action's input model (``--reason``, ``--confirm``...), its target a positional
argument, and it prints the action's one line. Validation, refusals and messages
are the catalog's, so the shell says what the console and the API say.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_args

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from jobs import selectors
from jobs.actions.catalog import ACTIONS, Action, Outcome
from jobs.actions.perform import Received, perform
from jobs.models import BackgroundOperation
from jobs.services.audit import Actor
from jobs.services.operations import operation_run


@dataclass
class Session:
    """One run of `manage.py jobs`: who acts, and where output goes."""

    command: BaseCommand
    actor: Actor

    def say(self, message: str) -> None:
        self.command.stdout.write(message)

    def show(self, data: Any) -> None:
        self.command.stdout.write(json.dumps(data, indent=2, cls=DjangoJSONEncoder))

    def perform(self, name: str, data: Received | Callable[[], Received], target: Any = None) -> Outcome:
        return perform(name, self.actor, data, door="cli", target=target)


Handler = Callable[[Session, dict[str, Any]], None]


class Parser(CommandParser):
    """Subparsers that report usage errors as one line, like the rest of the command."""

    def error(self, message):
        raise CommandError(f"{self.prog}: {message}")


def add_read(sub, name: str, handler: Handler, help: str = "") -> CommandParser:
    parser = sub.add_parser(name, help=help)
    parser.set_defaults(run=handler)
    return parser


def add_action(sub, name: str, *, positional: Iterable[str] = (), json_fields: Iterable[str] = ()) -> CommandParser:
    """A subcommand for the catalog action ``name``, its options taken from the action's input."""
    action = ACTIONS[name]
    word = action.cli.split()[-1]
    parser = sub.add_parser(word, help=action.title)
    positional, json_fields = tuple(positional), tuple(json_fields)
    if action.target:
        parser.add_argument("target", metavar="job_id" if action.target == "job" else action.target)
    for field, info in action.input.model_fields.items():
        flag = "--" + "".join(f"-{c.lower()}" if c.isupper() else c for c in field)
        if field in positional:
            # Optional here, so that the action's own check names it, after authorization.
            parser.add_argument(field, nargs="?")
        elif info.annotation is bool:
            parser.add_argument(flag, dest=field, action="store_true", default=None)
        else:
            parser.add_argument(flag, dest=field, type=_option_type(info.annotation), help=info.description)
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the API's answer instead")
    parser.set_defaults(run=_action_runner(action, json_fields))
    return parser


def _option_type(annotation: Any) -> Callable[[str], Any]:
    """int for a whole-number field (maxAttempts), else the text as typed."""
    return int if _whole_number(annotation) else str


def _whole_number(annotation: Any) -> bool:
    return annotation is int or any(_whole_number(arg) for arg in get_args(annotation))


def _action_runner(action: Action, json_fields: tuple[str, ...]) -> Handler:
    def run(session: Session, options: dict[str, Any]) -> None:
        data = {field: options[field] for field in action.input.model_fields if options.get(field) is not None}
        for field in json_fields:
            if field in data:
                data[field] = _json_option(field, data[field])
        target: Any = options.get("target")
        if action.target == "job":
            target = job_id(target)

        def received() -> dict[str, Any]:
            # Asked only once authorized: a role that may not act is never prompted.
            if action.confirm and "confirm" not in data:
                data["confirm"] = _ask(action.confirm)
            return data

        outcome = session.perform(action.name, received, target)
        if outcome.operation_id:  # big work went to the background: a shell waits for it to end
            session.say(outcome.message)
            operation = follow_operation(outcome.operation_id, action.title)
            if options.get("as_json"):
                session.show(operation.result)
            else:
                session.say(f"done: {operation.result}")
        elif options.get("as_json"):
            session.show(outcome.data)
        else:
            session.say(outcome.message)

    return run


def _json_option(field: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--{field}: invalid JSON ({exc.msg})") from None


def _ask(phrase: str) -> str:
    """The typed confirmation, asked for on a terminal; a script passes --confirm instead."""
    if not sys.stdin.isatty():
        return ""
    return input(f'Type "{phrase}" to confirm: ').strip()


def job_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError):
        raise CommandError(f"job id {value!r} is not a valid id") from None


def limit_option(parser: CommandParser, default: int) -> None:
    parser.add_argument("--limit", type=int, default=default)


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= 10_000:
        raise CommandError("--limit: must be from 1 to 10000")
    return limit


# How long the shell follows an operation that a worker took over, at most.
FOLLOW_SECONDS = 3600


def follow_operation(operation_id, what: str) -> BackgroundOperation:
    """Follow a background operation to its end; a DONE one is returned, else CommandError.

    The shell runs it itself when no worker has taken it yet (an operation runs
    once, whoever claims it first), so it also works with no worker running.
    """
    operation = operation_run(operation_id)
    deadline = time.monotonic() + FOLLOW_SECONDS
    while not operation.is_final:  # a retry-all waiting for room goes on once the reconciler resumes it
        if time.monotonic() > deadline:
            raise CommandError(
                f"operation {operation.id} still {operation.state}; follow it in the console, or "
                f"`jobs operations show {operation.id}` (`jobs operations cancel {operation.id}` stops it)"
            )
        time.sleep(1)
        operation = selectors.operation(operation.id)
    if operation.state != BackgroundOperation.State.DONE:
        raise CommandError(f"{what} {operation.state}: {operation.error}")
    return operation
