"""Input types that refuse what PostgreSQL cannot store, shared by every door.

JSON allows NaN/Infinity (Python's json does) and "\\u0000" in strings;
PostgreSQL's jsonb and text refuse both, so such input is refused here with a
clear message instead of failing as a database error later.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError


def find_nul(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding a NUL character, or None."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return path or "body"
            found = find_nul(item, child)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _no_nul(value: str) -> str:
    if "\x00" in value:
        # The same words as the API's body parser, which finds them first there.
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    return value


# RFC 3339, what OpenAPI's "date-time" means: date, time with seconds, and a zone.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    """Times come as RFC 3339 text; pydantic alone would also take "0.5" as a Unix time."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an ISO 8601 time with a zone, e.g. 2025-01-31T12:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    """An aware UTC time (naive means UTC); refuses times that overflow when converted."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("time out of range") from None


# The pattern documents the NUL rule in the OpenAPI document; _no_nul enforces it with a clear message.
NO_NUL = (AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"}))
Text = Annotated[str, *NO_NUL]
Time = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_utc)]
