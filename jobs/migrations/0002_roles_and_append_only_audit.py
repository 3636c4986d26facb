"""Role groups, and the database refusing UPDATE and DELETE on the audit trail.

The triggers make the trail append-only for every client of the database, not
only for this code: an UPDATE or DELETE on jobs_auditentry raises an error.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION jobs_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_auditentry_append_only
    BEFORE UPDATE OR DELETE ON jobs_auditentry
    FOR EACH ROW EXECUTE FUNCTION jobs_audit_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS jobs_auditentry_append_only ON jobs_auditentry;
DROP FUNCTION IF EXISTS jobs_audit_append_only();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER jobs_auditentry_no_update BEFORE UPDATE ON jobs_auditentry
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER jobs_auditentry_no_delete BEFORE DELETE ON jobs_auditentry
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE refused'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS jobs_auditentry_no_update;",
    "DROP TRIGGER IF EXISTS jobs_auditentry_no_delete;",
]


def install_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


def create_roles(apps, schema_editor):
    from jobs.roles import ensure_roles

    ensure_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(install_triggers, remove_triggers),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
