"""The incident timeline as JSON, JSONL and CSV: one shape for the page's exports, the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from jobs.selectors.timeline import Involved, Row, Window, timeline_rows
from jobs.services.audit_export import _cell

CSV_COLUMNS = ["at", "kind", "what", "who", "jobs", "reason", "outcome", "source", "id", "detail"]
FORMATS = ("jsonl", "csv")


def timeline_row_to_dict(row: Row) -> dict[str, Any]:
    return {
        "at": row.at.isoformat(),
        "kind": row.kind,
        "what": row.what,
        "who": row.who or None,
        "jobs": row.jobs,
        "reason": row.reason or None,
        "outcome": row.outcome or None,
        "source": row.source or None,
        "id": row.id,
        "detail": row.extra,
    }


def involved_to_dict(involved: Involved) -> dict[str, Any]:
    return {
        "items": [
            {
                "id": job.id,
                "entrypoint": job.entrypoint,
                "status": job.status,
                "events": job.events,
                "failures": job.failures,
                "firstAt": job.first.isoformat(),
                "lastAt": job.last.isoformat(),
            }
            for job in involved.jobs
        ],
        "total": involved.total,
        "eventsCounted": involved.events_counted,
        "complete": involved.complete,
    }


def window_to_dict(window: Window) -> dict[str, Any]:
    return {
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "kind": window.kind,
        "job": str(window.job) if window.job else None,
        "entrypoint": window.entrypoint,
    }


def timeline_jsonl(window: Window) -> Iterator[str]:
    """One JSON object per line, oldest first: the rows of the page, every one of the window."""
    for row in timeline_rows(window):
        yield json.dumps(timeline_row_to_dict(row), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


def timeline_csv(window: Window) -> Iterator[str]:
    """The same rows as CSV; jobs are space-separated, detail is JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in timeline_rows(window):
        data = timeline_row_to_dict(row)
        data["jobs"] = " ".join(row.jobs)
        writer.writerow([_cell(data[column]) for column in CSV_COLUMNS])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
    yield buffer.getvalue()


def timeline_export(window: Window, format: str) -> tuple[Iterator[str], str, str]:
    """(lines, content type, file name) of ``format``."""
    stamp = f"{window.since:%Y%m%d-%H%M%S}-{window.until:%Y%m%d-%H%M%S}"
    if format == "csv":
        return timeline_csv(window), "text/csv; charset=utf-8", f"incident-{stamp}.csv"
    return timeline_jsonl(window), "application/x-ndjson; charset=utf-8", f"incident-{stamp}.jsonl"
