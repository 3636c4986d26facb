"""Exports written before a removal: readable by the server's account only, downloadable by an admin
from the page whose action wrote them, and every download is in the audit trail."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.actions.catalog import CLEAR_ALL_CONFIRMATION, DLQ_CLEAR_CONFIRMATION
from jobs.models import AuditEntry, Job
from tests.support.console import login, make_dlq_entry, make_job, post_confirmed

pytestmark = pytest.mark.django_db


def test_clear_all_writes_an_export_only_its_owner_reads_and_the_admin_downloads_it_from_the_page(client, users):
    for n in range(3):
        make_job(params={"n": n})
    login(client, users["admin"])
    post_confirmed(client, reverse("jobs:emergency-clear-all"), {"reason": "poison", "confirm": CLEAR_ALL_CONFIRMATION})
    assert not Job.objects.exists()

    page = client.get(reverse("jobs:emergency")).text
    assert 'id="exports"' in page
    prefix = 'href="' + reverse("jobs:export-download", args=["X"]).removesuffix("X")
    name = page.split(prefix, 1)[1].split('"', 1)[0]
    assert name.startswith("clear-all-") and name.endswith(".jsonl")
    download = client.get(reverse("jobs:export-download", args=[name]))

    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{name}"'
    assert len(b"".join(download.streaming_content).splitlines()) == 3
    entry = AuditEntry.objects.filter(action="export.download").get()
    assert entry.actor == "admin" and entry.object_ids == [name]


def test_exports_are_readable_by_their_owner_only(client, users, settings):
    make_dlq_entry()
    login(client, users["admin"])
    post_confirmed(client, reverse("jobs:dlq-clear"), {"reason": "upstream fixed", "confirm": DLQ_CLEAR_CONFIRMATION})

    [export] = list(settings.JOBS_EXPORT_DIR.iterdir())
    assert export.stat().st_mode & 0o777 == 0o600
    assert settings.JOBS_EXPORT_DIR.stat().st_mode & 0o777 == 0o700
    assert export.name in client.get(reverse("jobs:dlq-list")).text, "the DLQ page lists the export it wrote"


def test_only_an_admin_downloads_an_export_and_only_an_exports_name(client, users, settings):
    make_dlq_entry()
    login(client, users["admin"])
    post_confirmed(client, reverse("jobs:dlq-clear"), {"reason": "r", "confirm": DLQ_CLEAR_CONFIRMATION})
    [export] = list(settings.JOBS_EXPORT_DIR.iterdir())
    (settings.JOBS_EXPORT_DIR.parent / "secret.txt").write_text("not an export")

    for name in ["..%2Fsecret.txt", "secret.txt", "clear-all-20260101T000000000000Z.jsonl"]:
        assert client.get(f"/exports/{name}").status_code == 404, name
    login(client, users["operator"])
    assert client.get(reverse("jobs:export-download", args=[export.name])).status_code == 403
    assert export.name not in client.get(reverse("jobs:dlq-list")).text
    assert not AuditEntry.objects.filter(action="export.download", outcome="ok").exists()
