"""The dead-letter queue: list, retry one, retry all (or one group), clear, clean expired."""

from __future__ import annotations

import time

from django.core.management.base import CommandError

from jobs import selectors
from jobs.cli.base import Session, add_action, add_read, checked_limit, limit_option
from jobs.models import BackgroundOperation
from jobs.representations import dlq_entry_to_dict
from jobs.services.operations import operation_run

# How long the shell follows a retry-all that a worker took over, at most.
FOLLOW_SECONDS = 3600


def register(sub) -> None:
    p = sub.add_parser("dlq", help="dead-letter queue")
    dsub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    d = add_read(dsub, "list", dlq_list)
    d.add_argument("--reason")
    limit_option(d, 100)
    add_action(dsub, "dlq.retry")
    add_action(dsub, "dlq.retry_all").set_defaults(run=retry_all("dlq.retry_all"))
    add_action(dsub, "dlq.retry_group").set_defaults(run=retry_all("dlq.retry_group"))
    add_action(dsub, "dlq.discard")
    add_action(dsub, "dlq.clear")
    add_action(dsub, "dlq.clean_expired")


def dlq_list(session: Session, options: dict) -> None:
    entries = selectors.dlq_entries(reason=options["reason"])
    session.show([dlq_entry_to_dict(entry) for entry in entries[: checked_limit(options["limit"])]])


def retry_all(name: str):
    """The console's retry-all: the same background operation, followed here until it ends.

    The shell runs it itself when no worker has taken it yet (an operation runs
    once, whoever claims it first), so it also works with no worker running.
    """

    def run(session: Session, options: dict) -> None:
        data = {"reason": options["reason"]} if options.get("reason") else {}
        outcome = session.perform(name, data, options.get("target"))
        session.say(outcome.message)
        operation = operation_run(outcome.operation_id)
        deadline = time.monotonic() + FOLLOW_SECONDS
        while operation.state in (BackgroundOperation.State.PENDING, BackgroundOperation.State.RUNNING):
            if time.monotonic() > deadline:
                raise CommandError(f"operation {operation.id} still {operation.state}; follow it in the console")
            time.sleep(1)
            operation = selectors.operation(operation.id)
        if operation.state != BackgroundOperation.State.DONE:
            raise CommandError(f"retry-all {operation.state}: {operation.error}")
        session.say(f"retried {operation.result['retried']} DLQ entries")

    return run
