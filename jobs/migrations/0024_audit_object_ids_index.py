"""A GIN index on AuditEntry.object_ids: the trail's entries that name one job, or any of a few.

The audit page's object filter and the incident timeline's job filter ask
``object_ids @> '["<id>"]'``; the timeline's entry-point filter asks, for an entry
point with few jobs, ``object_ids ?| array[<their ids>]``. Both read every entry
of the window without it (110 ms and 0.9 s over six days at a million entries).
The default opclass (jsonb_ops), because jsonb_path_ops has no ``?|``.
PostgreSQL only, and built CONCURRENTLY, as job_params_idx is (0015).
"""

from django.db import migrations

CREATE = "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_object_ids_idx ON jobs_auditentry USING gin (object_ids)"
DROP = "DROP INDEX CONCURRENTLY IF EXISTS audit_object_ids_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("jobs", "0023_dlq_entrypoint"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
