"""The dead-letter queue: list, retry one, retry all (or one group), clear, clean expired; and the
background operations a retry-all starts (show, cancel)."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from jobs import selectors
from jobs.cli.base import Session, add_action, add_read, checked_limit, follow_operation, limit_option
from jobs.representations import dlq_entry_to_dict, operation_to_dict


def register(sub) -> None:
    p = sub.add_parser("dlq", help="dead-letter queue")
    dsub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    d = add_read(dsub, "list", dlq_list)
    d.add_argument("--reason")
    d.add_argument(
        "--params", metavar="FILTER", help="entries whose job's params hold this: region=eu or a JSON object"
    )
    limit_option(d, 100)
    add_action(dsub, "dlq.retry")
    add_action(dsub, "dlq.retry_edited")
    add_action(dsub, "dlq.retry_all").set_defaults(run=retry_all("dlq.retry_all"))
    add_action(dsub, "dlq.retry_group").set_defaults(run=retry_all("dlq.retry_group"))
    add_action(dsub, "dlq.discard")
    add_action(dsub, "dlq.clear")
    add_action(dsub, "dlq.clean_expired")
    # The background operations a retry-all starts: follow one, or cancel it.
    p = sub.add_parser("operations", help="background operations (retry all)")
    osub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    add_read(osub, "show", operation_show, "an operation's progress").add_argument("target", metavar="operation")
    add_action(osub, "operation.cancel")


def dlq_list(session: Session, options: dict) -> None:
    entries = selectors.dlq_entries(reason=options["reason"], params=selectors.params_filter(options["params"]))
    session.show([dlq_entry_to_dict(entry) for entry in entries[: checked_limit(options["limit"])]])


def operation_show(session: Session, options: dict) -> None:
    try:
        operation_id = uuid.UUID(options["target"])
    except ValueError:
        raise CommandError(f"operation id {options['target']!r} is not a valid id") from None
    session.show(operation_to_dict(selectors.operation(operation_id)))


def retry_all(name: str):
    """The console's retry-all: the same background operation, followed here until it ends."""

    def run(session: Session, options: dict) -> None:
        data = {"reason": options["reason"]} if options.get("reason") else {}
        outcome = session.perform(name, data, options.get("target"))
        session.say(outcome.message)
        operation = follow_operation(outcome.operation_id, "retry-all")
        session.say(f"retried {operation.result['retried']} DLQ entries")

    return run
