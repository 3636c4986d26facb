"""Request parsing and input types that refuse what PostgreSQL cannot store.

JSON allows NaN/Infinity (Python's json does) and "\\u0000" in strings;
PostgreSQL's jsonb and text refuse both, so such input is a 400 here instead
of a database error later.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja.parser import Parser
from pydantic import AfterValidator

from jobs.api.errors import BodyError


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"body: {name} is not a JSON number")


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


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        data = json.loads(request.body, parse_constant=_refuse_constant)
        where = find_nul(data)
        if where:
            raise BodyError(f"{where}: must not contain NUL characters")
        return data


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _utc(value: datetime) -> datetime:
    """An aware UTC time (naive means UTC); refuses times that overflow when converted."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("time out of range") from None


Text = Annotated[str, AfterValidator(_no_nul)]
Time = Annotated[datetime, AfterValidator(_utc)]
