"""Keyset (cursor) pagination: no OFFSET and no COUNT over large tables.

A page is ordered by a unique tuple of fields (newest first by default); the
cursor is an opaque token holding the last row's values, and the next page is
``WHERE (a, b) < (last_a, last_b)``, which an index on (a, b) answers directly.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import ForeignObjectRel, Q
from django.db.models.fields.related import RelatedField
from django.utils.dateparse import parse_datetime

from jobs.services.errors import InvalidInput

MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, model: type[models.Model], fields: tuple[str, ...]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor: not a cursor this API gave out") from None
    if not isinstance(values, list) or len(values) != len(fields):
        raise InvalidInput("cursor: not a cursor this API gave out")
    decoded = []
    for field_name, value in zip(fields, values, strict=True):
        field = model._meta.get_field(field_name)
        try:
            if isinstance(field, models.DateTimeField):
                parsed = parse_datetime(value) if isinstance(value, str) else None
                if parsed is None or parsed.tzinfo is None:
                    raise ValueError(value)
                value = parsed
            elif not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ValueError(value)
            else:
                # A forged value of the wrong type must be a 400, not a database error.
                target = field.target_field if isinstance(field, (RelatedField, ForeignObjectRel)) else field
                target.to_python(value)
                if isinstance(value, int) and not -(2**63) <= value < 2**63:
                    raise ValueError(value)
        except (ValueError, TypeError, OverflowError, ValidationError):
            raise InvalidInput("cursor: not a cursor this API gave out") from None
        decoded.append(value)
    return decoded


def _after(fields: tuple[str, ...], values: list[Any], descending: bool) -> Q:
    """Rows strictly after ``values`` in the ordering, as a lexicographic comparison."""
    op = "lt" if descending else "gt"
    condition = Q()
    for i, field in enumerate(fields):
        equal = {fields[j]: values[j] for j in range(i)}
        condition |= Q(**equal, **{f"{field}__{op}": values[i]})
    return condition


def parse_limit(limit: Any, default: int = 50) -> int:
    if limit in (None, ""):
        return default
    try:
        value = int(limit)
    except (TypeError, ValueError):
        raise InvalidInput(f"limit: must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"limit: must be a whole number from 1 to {MAX_LIMIT}")
    return value


def keyset_page(
    queryset: models.QuerySet,
    *,
    cursor: str | None,
    limit: int,
    fields: tuple[str, ...] = ("created_at", "id"),
    descending: bool = True,
) -> Page:
    """One page of ``queryset`` ordered by ``fields``, and the cursor of the next one."""
    if cursor:
        queryset = queryset.filter(_after(fields, decode_cursor(cursor, queryset.model, fields), descending))
    ordering = [f"-{f}" if descending else f for f in fields]
    rows = list(queryset.order_by(*ordering)[: limit + 1])
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor([_value(last, f) for f in fields])
    return Page(items, next_cursor)


def _value(row: models.Model, field: str) -> Any:
    value = getattr(row, field if field != "job" else "job_id")
    if hasattr(value, "isoformat"):
        # In full: DjangoJSONEncoder would cut a time to milliseconds, and a page
        # would then skip or repeat the rows created within the same millisecond.
        return value.isoformat()
    return value if isinstance(value, (int, float, str)) else str(value)
