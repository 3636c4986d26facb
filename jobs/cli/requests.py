"""Four eyes: the destructive actions waiting for a second admin; confirm and reject them."""

from __future__ import annotations

from jobs import selectors
from jobs.cli.base import Session, add_action, add_read
from jobs.representations import action_request_to_dict


def register(sub) -> None:
    p = sub.add_parser("requests", help="destructive actions waiting for a second admin (four eyes)")
    rsub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    add_read(rsub, "list", request_list)
    add_action(rsub, "four_eyes.confirm")
    add_action(rsub, "four_eyes.reject")


def request_list(session: Session, options: dict) -> None:
    session.show([action_request_to_dict(request) for request in selectors.action_requests()])
