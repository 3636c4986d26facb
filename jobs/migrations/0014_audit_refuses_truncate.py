"""The audit table refuses TRUNCATE (which fires no row trigger) from any role but its owner.

The application runs under a role that is not the owner (docs/architecture.md, "The
audit trail's database role"), so it can neither truncate the trail nor disable this
trigger; the owner, who runs migrations, keeps TRUNCATE for flushing a test database.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION jobs_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RAISE EXCEPTION 'the audit trail is append-only: TRUNCATE refused';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_auditentry_no_truncate BEFORE TRUNCATE ON jobs_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_audit_no_truncate();
"""

DROP = """
DROP TRIGGER IF EXISTS jobs_auditentry_no_truncate ON jobs_auditentry;
DROP FUNCTION IF EXISTS jobs_audit_no_truncate();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0013_operation_inputs")]

    operations = [migrations.RunPython(forwards, backwards)]
