"""A GIN index on Job.params for search by params (jobs.selectors.params).

jsonb_path_ops answers containment (``params @> '{"region": "eu"}'``), the one
operator the search uses, with an index a third the size of the default opclass.
PostgreSQL only: SQLite, the local run's database, has no GIN and no containment.
Built CONCURRENTLY, so a deployment with a large job table keeps taking writes.
"""

from django.db import migrations

CREATE = "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_params_idx ON jobs_job USING gin (params jsonb_path_ops)"
DROP = "DROP INDEX CONCURRENTLY IF EXISTS job_params_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("jobs", "0014_audit_refuses_truncate"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
