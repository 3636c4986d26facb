"""The incident timeline of a window: JSON (a page and the jobs involved), or every row as JSONL or CSV."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs.cli.base import Session, add_read
from jobs.selectors.timeline import KINDS, jobs_involved, timeline_page, timeline_window
from jobs.services.timeline_export import (
    FORMATS,
    involved_to_dict,
    timeline_export,
    timeline_row_to_dict,
    window_to_dict,
)


def register(sub) -> None:
    p = add_read(sub, "incident", incident, "the incident timeline: events, actions and health changes of a window")
    p.add_argument("--since", help="ISO 8601, no zone means UTC (default: an hour before --until)")
    p.add_argument("--until", help="ISO 8601, excluded (default: now)")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--job", help="only this job's rows (and health changes)")
    p.add_argument("--entrypoint")
    p.add_argument("--format", choices=(*FORMATS, "json"), default="json", help="json: the first --limit rows")
    p.add_argument("--limit", type=int, default=100)


def incident(session: Session, options: dict) -> None:
    # A bad window is an InvalidInput, which the command prints as its one line.
    window = timeline_window(
        since=options["since"],
        until=options["until"],
        kind=options["kind"],
        job=options["job"],
        entrypoint=options["entrypoint"],
    )
    if options["format"] != "json":
        lines, _, _ = timeline_export(window, options["format"])
        for text in lines:
            session.command.stdout.write(text, ending="")
        return
    if not 1 <= options["limit"] <= 500:
        raise CommandError("--limit: must be from 1 to 500")
    page = timeline_page(window, limit=options["limit"])
    session.show(
        {
            "window": window_to_dict(window),
            "items": [timeline_row_to_dict(row) for row in page.rows],
            "nextCursor": page.next_cursor,
            "jobs": involved_to_dict(jobs_involved(window)),
        }
    )
