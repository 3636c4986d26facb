"""Validation errors as one message for every door: ``field: what is wrong; ...``.

The API answers it as ``{"error": message, "detail": [{field, message}]}``, the
console shows the message, the CLI prints it and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from jobs.services.errors import InvalidInput


def field_name(loc: list | tuple) -> str:
    """A validation error's location (("body", "payload", "maxAttempts") from ninja, or ("reason",)) as a field name."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        source, parts = parts[0], parts[1:]
        if source == "body" and parts and parts[0] == "payload":
            parts = parts[1:]
    return ".".join(parts) or "body"


def _message(error: Mapping[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    if error.get("type") == "missing":
        return "required"
    return str(error.get("msg", "invalid"))


def describe_invalid(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Validation errors as a one-line summary, and each field's message."""
    fields = [{"field": field_name(e.get("loc", ())), "message": _message(e)} for e in errors]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return {"error": summary, "detail": fields}


def invalid_input(exc: ValidationError) -> InvalidInput:
    described = describe_invalid(exc.errors(include_url=False))
    return InvalidInput(described["error"], described["detail"])
