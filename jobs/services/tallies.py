"""Folding the running counts together (see models.Tally).

The triggers only ever append a row per changed count; between two foldings a
reader sums the rows appended since. Folding replaces every row of a name by
their sum in one statement, so a reader sees either the rows or their sum,
never both. The reconciler folds on every tick.
"""

from __future__ import annotations

from django.db import connection, transaction

# Any constant unique to this purpose: one folding at a time, the others skip.
FOLD_LOCK = 0x54414C59
_FOLD = """
WITH gone AS (DELETE FROM jobs_tally RETURNING name, n)
INSERT INTO jobs_tally (name, n) SELECT name, sum(n) FROM gone GROUP BY name HAVING sum(n) <> 0
"""


def tallies_compact() -> int:
    """Fold the tallies into one row per name; returns the rows folded (0 if another folds)."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute("SELECT count(*) FROM jobs_tally")
        rows = cursor.fetchone()[0]
        if rows > 1:
            cursor.execute(_FOLD)
        return rows
