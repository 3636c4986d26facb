"""Counts that do not scan: tallies kept by triggers, and audit verification checkpoints.

Counting jobs by status with GROUP BY reads the whole job table (about 170 ms at
a million jobs), on every dashboard refresh and health probe. Instead, statement
triggers on the job, DLQ and event tables append one row per changed count to
jobs_tally, in the same transaction as the change: a reader sums a small table
and sees exactly the committed rows of its snapshot. Appending never waits on
another transaction (no counter row is updated in place), so this does not bring
back one hot row for every transition; services.tallies folds the rows together.

The tallies are seeded from the rows present when the triggers are installed,
in the same transaction, so the counts are exact from the start.

Only PostgreSQL gets triggers; on SQLite (a single development process) the
selectors count with GROUP BY as before.
"""

import django.utils.timezone
from django.db import migrations, models

# The run-time buckets (seconds) are jobs.api.metrics.RUN_TIME_BUCKETS when this was written.
JOB_ROWS = """
CREATE FUNCTION jobs_tally_job_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO jobs_tally (name, n) SELECT 'status:' || status, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO jobs_tally (name, n) SELECT 'status:' || status, -count(*) FROM old_rows GROUP BY status;
    ELSE
        -- Status changes, and the run time of every job that just ended a run.
        INSERT INTO jobs_tally (name, n)
        SELECT name, sum(n) FROM (
            SELECT 'status:' || status AS name, 1 AS n FROM new_rows
            UNION ALL
            SELECT 'status:' || status, -1 FROM old_rows
            UNION ALL
            SELECT 'run:' || ended.status || ':' || bucket.name, bucket.n
            FROM (
                SELECT new_rows.status, extract(epoch FROM new_rows.completed_at - new_rows.started_at) AS seconds
                FROM new_rows JOIN old_rows USING (id)
                WHERE old_rows.status = 'running' AND new_rows.status IN ('succeeded', 'failed')
                  AND new_rows.started_at IS NOT NULL AND new_rows.completed_at IS NOT NULL
            ) AS ended,
            LATERAL (
                SELECT 'le=' || le AS name, 1::bigint AS n
                FROM unnest('{0.1,0.5,1,2.5,5,10,30,60,120,300,600}'::numeric[]) AS le WHERE ended.seconds <= le
                UNION ALL SELECT 'count', 1
                UNION ALL SELECT 'ms', round(greatest(ended.seconds, 0) * 1000)::bigint
            ) AS bucket
        ) AS deltas
        GROUP BY name HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_job_tally_insert AFTER INSERT ON jobs_job
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_job_rows();
CREATE TRIGGER jobs_job_tally_update AFTER UPDATE ON jobs_job
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_job_rows();
CREATE TRIGGER jobs_job_tally_delete AFTER DELETE ON jobs_job
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_job_rows();
"""

DLQ_ROWS = """
CREATE FUNCTION jobs_tally_dlq_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO jobs_tally (name, n) SELECT 'dlq', count(*) FROM new_rows HAVING count(*) > 0;
    ELSE
        INSERT INTO jobs_tally (name, n) SELECT 'dlq', -count(*) FROM old_rows HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_dlqentry_tally_insert AFTER INSERT ON jobs_dlqentry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_dlq_rows();
CREATE TRIGGER jobs_dlqentry_tally_delete AFTER DELETE ON jobs_dlqentry
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_dlq_rows();
"""

# Events are counted as they are written and never discounted: a Prometheus counter.
EVENT_ROWS = """
CREATE FUNCTION jobs_tally_event_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_tally (name, n) SELECT 'event:' || type, count(*) FROM new_rows GROUP BY type;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_event_tally_insert AFTER INSERT ON jobs_event
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_event_rows();
"""

# TRUNCATE fires no row triggers: forget the counts of what it emptied.
TRUNCATES = """
CREATE FUNCTION jobs_tally_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM jobs_tally WHERE name LIKE TG_ARGV[0];
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_job_tally_truncate AFTER TRUNCATE ON jobs_job
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_truncated('status:%');
CREATE TRIGGER jobs_dlqentry_tally_truncate AFTER TRUNCATE ON jobs_dlqentry
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_tally_truncated('dlq');
"""

# Held to the end of the migration's transaction: no row changes between the seed and the triggers.
LOCK = "LOCK TABLE jobs_job, jobs_dlqentry, jobs_event IN SHARE ROW EXCLUSIVE MODE"
SEED = """
INSERT INTO jobs_tally (name, n) SELECT 'status:' || status, count(*) FROM jobs_job GROUP BY status;
INSERT INTO jobs_tally (name, n) SELECT 'dlq', count(*) FROM jobs_dlqentry HAVING count(*) > 0;
INSERT INTO jobs_tally (name, n) SELECT 'event:' || type, count(*) FROM jobs_event GROUP BY type;
"""

DROP = """
DROP TRIGGER IF EXISTS jobs_job_tally_insert ON jobs_job;
DROP TRIGGER IF EXISTS jobs_job_tally_update ON jobs_job;
DROP TRIGGER IF EXISTS jobs_job_tally_delete ON jobs_job;
DROP TRIGGER IF EXISTS jobs_job_tally_truncate ON jobs_job;
DROP TRIGGER IF EXISTS jobs_dlqentry_tally_insert ON jobs_dlqentry;
DROP TRIGGER IF EXISTS jobs_dlqentry_tally_delete ON jobs_dlqentry;
DROP TRIGGER IF EXISTS jobs_dlqentry_tally_truncate ON jobs_dlqentry;
DROP TRIGGER IF EXISTS jobs_event_tally_insert ON jobs_event;
DROP FUNCTION IF EXISTS jobs_tally_job_rows();
DROP FUNCTION IF EXISTS jobs_tally_dlq_rows();
DROP FUNCTION IF EXISTS jobs_tally_event_rows();
DROP FUNCTION IF EXISTS jobs_tally_truncated();
"""


def install_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in (LOCK, JOB_ROWS, DLQ_ROWS, EVENT_ROWS, TRUNCATES, SEED):
        schema_editor.execute(sql, params=None)


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0008_job_imported_by"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("chain", models.PositiveSmallIntegerField(primary_key=True, serialize=False)),
                ("entry_id", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("checked", models.BigIntegerField(default=0)),
                ("verified_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name="Tally",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=80)),
                ("n", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(install_triggers, remove_triggers),
    ]
