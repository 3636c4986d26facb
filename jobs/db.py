"""Database fast paths for the hot statements, on PostgreSQL.

Django binds parameters on the client, so PostgreSQL plans every statement anew,
and its ORM prepares every field of every object in Python. For the few
statements each job pays for (claim, outcome, submit, audit append) and for bulk
inserts, that overhead cost more than the work:

- ``execute_prepared`` runs a statement through a server-side-binding psycopg
  cursor on Django's own connection with ``prepare=True``: planned once per
  connection, in the caller's transaction (or autocommit), with Django's error
  wrapping.
- ``insert_rows`` / ``insert_many`` send many rows as one JSON parameter that
  PostgreSQL unpacks (``jsonb_to_recordset``); other databases get bulk_create.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection
from django.db.models import DateTimeField, Field, JSONField, Model, UUIDField


def execute_prepared(sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` prepared; returns the column names and the rows."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        if cursor.description is None:
            return [], []
        return [column.name for column in cursor.description], cursor.fetchall()


def model_from_row[M: Model](model: type[M], names: list[str], row: tuple) -> M:
    """An instance of ``model`` from the columns of ``row`` that are its fields (converted as the ORM does)."""
    values = dict(zip(names, row, strict=True))
    fields = model._meta.concrete_fields
    loaded = []
    for field in fields:
        value = values[_column(field)]
        if value is not None and hasattr(field, "from_db_value"):
            value = field.from_db_value(value, None, connection)
        loaded.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], loaded)


def row_of(obj: Model) -> dict[str, Any]:
    """Every column of ``obj`` by name: what jsonb_populate_record reads from ``dumps``."""
    return {_column(field): getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def insert_many[M: Model](model: type[M], objects: Sequence[M]) -> None:
    """INSERT ``objects`` in one statement; primary keys the database gives are set on them."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects)
        return
    generated = [f for f in model._meta.concrete_fields if f.primary_key and getattr(objects[0], f.attname) is None]
    fields = [f for f in model._meta.concrete_fields if f not in generated]
    plain = [(_column(f), f.attname, _to_json(f)) for f in fields]
    keys = insert_rows(
        model, [{column: to_json(getattr(obj, attname)) for column, attname, to_json in plain} for obj in objects]
    )
    for obj, key in zip(objects, keys, strict=True):
        if generated:
            setattr(obj, generated[0].attname, key)
        obj._state.adding = False
        obj._state.db = connection.alias


def insert_rows(model: type[Model], rows: list[dict[str, Any]]) -> list:
    """INSERT plain rows ({column: value}, the same columns in each) on PostgreSQL; returns their keys."""
    if not rows:
        return []
    by_column = {f.column: f for f in model._meta.concrete_fields}
    fields = [by_column[column] for column in rows[0]]
    pk = model._meta.pk
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_column(f)) for f in fields)
    record = ", ".join(f"{quote(_column(f))} {_record_type(f)}" for f in fields)
    # Names come from the model's own metadata; the values travel as one parameter.
    table = quote(model._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) AS r({record})"  # noqa: S608
    sql += f" RETURNING {quote(_column(pk))}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [dumps(rows)])
        return [key for (key,) in cursor.fetchall()]


def _column(field: Field) -> str:
    """A concrete field's column: only fields stored elsewhere (many-to-many) have none."""
    assert field.column is not None, field
    return field.column


def _record_type(field) -> str:
    if isinstance(field, JSONField):
        return "jsonb"  # a JSON field's value stays JSON inside the row
    return field.rel_db_type(connection) if field.is_relation else field.db_type(connection)


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _to_json(field) -> Callable[[Any], Any]:
    """How a field's value goes into the JSON row: done per field, not by an encoder per value."""
    if isinstance(field, DateTimeField):
        return _iso
    if isinstance(field, UUIDField) or (field.is_relation and isinstance(field.target_field, UUIDField)):
        return _text
    return _same


class _Encoder(json.JSONEncoder):
    """Times in full (DjangoJSONEncoder cuts them to milliseconds), ids as text."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        return super().default(o)


def dumps(rows: Any) -> str:
    """JSON for the database: times at full precision, ids as text."""
    return json.dumps(rows, cls=_Encoder, separators=(",", ":"))
