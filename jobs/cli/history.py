"""Throughput, failures, run time and queue latency per entry point: the History page's figures, as JSON."""

from __future__ import annotations

from jobs import selectors
from jobs.cli.base import Session, add_read
from jobs.representations import history_to_dict
from jobs.selectors.history import WINDOWS


def register(sub) -> None:
    p = add_read(sub, "history", history, "throughput, failures, run time and queue latency per entry point")
    p.add_argument("--window", default="24h", help=f"{' or '.join(WINDOWS)} (default 24h)")
    p.add_argument("--entrypoint", default="", help="only this entry point")


def history(session: Session, options: dict) -> None:
    # A bad window or entry point is an InvalidInput, which the command prints as its one line.
    window = selectors.history_window(options["window"])
    session.show(history_to_dict(selectors.history(window, entrypoint=options["entrypoint"] or None)))
