"""Folding the History rollups together and forgetting old hours (see models.JobRollup).

The job table's trigger appends a row per (hour, entry point) for each statement
that ended runs or admitted jobs; a busy hour gathers thousands. Folding replaces
the rows of each (hour, entry point) that has more than one by their sum, in one
statement, so a reader (who always sums) sees either the rows or their sum, never
both. The reconciler folds on every tick, as it does the tallies.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from jobs.models import ROLLUP_BUCKET_NAMES

# Any constant unique to this purpose: one folding at a time, the others skip.
FOLD_LOCK = 0x524F4C4C
# The longest window the History page shows is 7 days; a day more covers its first bucket.
ROLLUP_RETENTION = timedelta(days=8)

SUMMED = (
    "succeeded",
    "failed",
    "retried",
    "run_count",
    "run_ms",
    "wait_count",
    "wait_ms",
    *(f"{kind}_le_{name}" for kind in ("run", "wait") for name in ROLLUP_BUCKET_NAMES),
)
_COLUMNS = ", ".join(SUMMED)
_SUMS = ", ".join(f"sum({column})" for column in SUMMED)
_FOLD = f"""
WITH many AS (
    SELECT bucket_start, entrypoint FROM jobs_jobrollup GROUP BY bucket_start, entrypoint HAVING count(*) > 1
), gone AS (
    DELETE FROM jobs_jobrollup USING many
    WHERE jobs_jobrollup.bucket_start = many.bucket_start AND jobs_jobrollup.entrypoint = many.entrypoint
    RETURNING jobs_jobrollup.*
)
INSERT INTO jobs_jobrollup (bucket_start, entrypoint, {_COLUMNS})
SELECT bucket_start, entrypoint, {_SUMS} FROM gone GROUP BY bucket_start, entrypoint
"""  # noqa: S608 - composed of the constant column names above


def rollups_compact(*, now=None) -> int:
    """Fold the rollups into one row per (hour, entry point) and drop hours past the retention.

    Returns how many rows it dropped or wrote (0 when another process is folding, and on
    SQLite, which has no trigger writing rollups).
    """
    if connection.vendor != "postgresql":
        return 0
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute("DELETE FROM jobs_jobrollup WHERE bucket_start < %s", [now - ROLLUP_RETENTION])
        dropped = cursor.rowcount
        cursor.execute(_FOLD)
        return dropped + cursor.rowcount
