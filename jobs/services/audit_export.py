"""The audit trail as CSV, streamed row by row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

COLUMNS = [
    "id",
    "created_at",
    "actor",
    "source",
    "action",
    "outcome",
    "object_type",
    "object_ids",
    "reason",
    "before",
    "after",
    "ip",
    "user_agent",
    "prev_hash",
    "hash",
]


def _cell(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A leading =, +, - or @ would run as a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def audit_csv_rows(entries) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow(COLUMNS)
    yield flush()
    for entry in entries.iterator(chunk_size=2000):
        writer.writerow([_cell(getattr(entry, column)) for column in COLUMNS])
        yield flush()
