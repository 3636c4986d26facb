"""Give the application's PostgreSQL role what it needs, and no more over the audit trail.

    python manage.py grant_app_role jobs_app        # as the owner, after every migrate

The application then connects as ``jobs_app`` (DATABASE_URL), migrations as the owner.
That role reads and writes every table, but on the audit trail it may only read and
append: no UPDATE, DELETE or TRUNCATE, and, not being the owner, it cannot disable or
drop the triggers that say so, nor alter the table.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg import sql

AUDIT_TABLE = "jobs_auditentry"


class Command(BaseCommand):
    help = "Grant the application's database role its privileges (run as the owner, after migrate)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("role", help="the role the application connects as (created beforehand, not the owner)")

    def handle(self, *args, role: str, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role is for PostgreSQL")
        name = sql.Identifier(role)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                raise CommandError(f"role {role!r} does not exist: CREATE ROLE {role} LOGIN PASSWORD '...' first")
            cursor.execute(
                "SELECT pg_has_role(%s, tableowner, 'MEMBER') FROM pg_tables WHERE tablename = %s", [role, AUDIT_TABLE]
            )
            row = cursor.fetchone()
            if row is not None and row[0]:
                raise CommandError(f"role {role!r} owns the tables: the application must run as another role")
            cursor.execute("SELECT current_schema()")
            (schema,) = cursor.fetchone()
            for statement in (
                "GRANT USAGE ON SCHEMA {schema} TO {role}",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
                "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {audit} FROM {role}",
            ):
                cursor.execute(
                    sql.SQL(statement).format(
                        schema=sql.Identifier(schema),
                        role=name,
                        audit=sql.Identifier(AUDIT_TABLE),
                    )
                )
        self.stdout.write(f"granted {role}: every table read and write; the audit trail read and append only")
