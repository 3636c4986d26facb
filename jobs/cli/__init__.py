"""`manage.py jobs`: the shell's door onto the runbook, one module per area.

Each module registers its subcommands: reads go through ``jobs.selectors`` and
print JSON; actions are the catalog's (``jobs.cli.base.add_action``) and print
the action's one line. Errors are one line and exit non-zero.
"""

from __future__ import annotations

from jobs.cli import access, approvals, audit, bulk, dlq, docs, history, incident, requests, store, system, work
from jobs.cli.base import Parser, Session

AREAS = (work, bulk, dlq, approvals, system, store, audit, incident, history, requests, access, docs)

__all__ = ["AREAS", "Parser", "Session", "add_subcommands"]


def add_subcommands(parser) -> None:
    sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=Parser)
    for area in AREAS:
        area.register(sub)
