"""Migrations that move data: run forwards over rows written by the schema before them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(target: tuple[str, str]):
    """Migrate the test database to ``target``; returns the apps (historical models) as they stand there."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


def test_dlq_entries_take_their_jobs_entry_point():
    old = migrate(("jobs", "0022_bulk_selection"))
    Job, DLQEntry = old.get_model("jobs", "Job"), old.get_model("jobs", "DLQEntry")
    now = timezone.now()
    for n, entrypoint in enumerate(["shop.sync", "mail.send"]):
        job = Job.objects.create(
            job_key=f"old:{n}", entrypoint=entrypoint, status="failed", created_at=now, updated_at=now
        )
        DLQEntry.objects.create(job=job, reason="Max attempts exceeded", attempts=3, fingerprint="f")

    new = migrate(("jobs", "0023_dlq_entrypoint"))

    entries = new.get_model("jobs", "DLQEntry").objects.order_by("job__job_key")
    assert [(entry.job.job_key, entry.entrypoint) for entry in entries] == [
        ("old:0", "shop.sync"),
        ("old:1", "mail.send"),
    ]
