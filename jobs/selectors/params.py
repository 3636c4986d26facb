"""Search by a job's params: one filter language for the console, the API and the CLI.

A filter is either a JSON object, matched by containment (every key it names has
that value; nested objects nest, a list value must be held by the job's list), or
one or more ``path=value`` terms separated by commas, each a path into params with
dots (``region=eu``, ``customer.tier=gold``). A term's value is read as JSON when
it is JSON (a number, true, false, null, a quoted string, a list) and as text
otherwise, so ``count=3`` matches the number 3 and ``count="3"`` the string.

On PostgreSQL the filter is one ``params @> …`` containment, which the GIN index
``job_params_idx`` (jsonb_path_ops) answers at any table size. SQLite, the local
run's database, has no containment: there each leaf is compared by its key path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Q

from jobs.services.errors import InvalidInput

MAX_TERMS = 10
MAX_DEPTH = 5
MAX_LENGTH = 1000
PREFIX = "params."


def params_filter(spec: str | None = None, *, terms: Iterable[str] = ()) -> dict[str, Any] | None:
    """The containment document of a filter (``spec``) and of extra ``path=value`` terms, or None for none.

    Bad input raises InvalidInput naming what is wrong; nothing is searched.
    """
    document: dict[str, Any] = {}
    spec = (spec or "").strip()
    if len(spec) > MAX_LENGTH:
        raise InvalidInput(f"params: at most {MAX_LENGTH} characters")
    if spec.startswith(("{", "[")):
        document = _json_object(spec)
    elif spec:
        terms = [*spec.split(","), *terms]
    for term in terms:
        _merge(document, *_term(term))
    if not document:
        return None
    if len(list(_leaves(document))) > MAX_TERMS:
        raise InvalidInput(f"params: at most {MAX_TERMS} conditions")
    return document


def params_condition(document: dict[str, Any], *, field: str = "params") -> Q:
    """The Q that finds jobs whose params hold ``document`` (``field`` is the path to Job.params)."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__contains": document})
    condition = Q()
    for path, value in _leaves(document):
        condition &= Q(**{"__".join([field, *path]): value})
    return condition


def _json_object(spec: str) -> dict[str, Any]:
    try:
        document = json.loads(spec)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"params: not a JSON object ({exc.msg} at character {exc.pos})") from None
    if not isinstance(document, dict):
        raise InvalidInput("params: a JSON filter must be an object")
    _check_depth(document, 1)
    return document


def _term(term: str) -> tuple[list[str], Any]:
    term = term.strip()
    path, equals, raw = term.partition("=")
    path = path.strip().removeprefix(PREFIX)
    keys = path.split(".")
    if not equals or not all(key.strip() for key in keys):
        raise InvalidInput(f"params: {term!r} is not path=value (for example region=eu or customer.tier=gold)")
    if len(keys) > MAX_DEPTH:
        raise InvalidInput(f"params: {path!r} is deeper than {MAX_DEPTH} keys")
    return [key.strip() for key in keys], _value(raw.strip())


def _value(raw: str) -> Any:
    """The value as JSON where it is JSON (3, true, null, "3", ["a"]); anything else is the text itself."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _merge(document: dict[str, Any], keys: list[str], value: Any) -> None:
    *parents, last = keys
    node = document
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise InvalidInput(f"params: {'.'.join(keys)!r} contradicts another term")
        node = child
    if last in node and node[last] != value:
        raise InvalidInput(f"params: {'.'.join(keys)!r} is given two values")
    node[last] = value


def _check_depth(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"params: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for child in value.values():
            _check_depth(child, depth + 1)


def _leaves(document: dict[str, Any], path: tuple[str, ...] = ()) -> Iterable[tuple[list[str], Any]]:
    for key, value in document.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*path, key))
        else:
            yield [*path, key], value
