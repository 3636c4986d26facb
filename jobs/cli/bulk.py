"""Bulk actions on a filter: `jobs bulk freeze` (the dry run) and `jobs bulk run SELECTION --reason`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from jobs.cli.base import Session, add_action
from jobs.models import Priority, Status

FILTER_OPTIONS = ("status", "priority", "entrypoint", "q", "params")


def register(sub) -> None:
    p = sub.add_parser("bulk", help="cancel, retry or force-fail every job of a filter: dry run, then run")
    bsub = p.add_subparsers(dest="bulk_command", required=True, parser_class=type(p))
    freeze = add_action(bsub, "jobs.bulk_freeze")
    # The Jobs page's filters as options of their own, beside --filter JSON and --ids.
    freeze.add_argument("--status", choices=Status.values)
    freeze.add_argument("--priority", choices=[priority.label for priority in Priority])
    freeze.add_argument("--entrypoint")
    freeze.add_argument("--q", help="an id, the start of a jobKey, or part of the last error")
    freeze.add_argument("--params", metavar="FILTER", help='region=eu,customer.tier=gold or {"region": "eu"}')
    freeze.set_defaults(run=bulk_freeze, ids=None)
    add_action(bsub, "jobs.bulk_run")


def bulk_freeze(session: Session, options: dict[str, Any]) -> None:
    data: dict[str, Any] = {}
    if options.get("action") is not None:
        data["action"] = options["action"]
    chosen = _filter_option(options["filter"]) if options.get("filter") else {}
    if isinstance(chosen, dict):
        chosen |= {name: options[name] for name in FILTER_OPTIONS if options.get(name)}
    if chosen:
        data["filter"] = chosen
    if options.get("ids"):
        data["ids"] = [value.strip() for value in options["ids"].split(",") if value.strip()]
    outcome = session.perform("jobs.bulk_freeze", data)
    if options.get("as_json"):
        session.show(outcome.data)
        return
    session.say(outcome.message)
    selection = outcome.data["selection"]
    for name in ("byEntrypoint", "byStatus", "byFingerprint"):
        key = name.removeprefix("by").lower()
        counts = ", ".join(f"{row[key] or '-'} {row['count']}" for row in selection["breakdown"][name])
        session.say(f"  {key}: {counts}")
    session.say(f"  effect: {selection['effect']}")
    session.say(f"run it with: jobs bulk run {selection['id']} --reason TEXT")


def _filter_option(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--filter: invalid JSON ({exc.msg})") from None
