"""Tampering with the audit trail as a database superuser would, to show that verification catches it."""

from __future__ import annotations

from django.db import connection


def tamper(sql: str, params: list) -> None:
    """Run ``sql`` with the append-only trigger of the audit table off for that one statement."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jobs_auditentry DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("ALTER TABLE jobs_auditentry ENABLE TRIGGER USER")
