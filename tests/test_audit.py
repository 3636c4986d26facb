"""The audit trail as the console writes it: one entry per action, denials, append-only, verified."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from jobs.models import AuditCheckpoint, AuditEntry, Status
from jobs.services.audit import audit_verify
from tests.support.console import login, make_dlq_entry, make_job, post_confirmed


def _new_entries(since: int):
    return list(AuditEntry.objects.filter(id__gt=since).order_by("id"))


def _last_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_it_writes_one_entry_per_action(client, users):
    job = make_job()
    login(client, users["operator"])
    before = _last_id()
    response = client.post(reverse("jobs:job-cancel", args=[job.id]), {"reason": "not needed"})
    assert response.status_code == 302
    [entry] = _new_entries(before)
    assert (entry.actor, entry.action, entry.outcome, entry.source) == ("operator", "job.cancel", "ok", "web")
    assert entry.object_ids == [str(job.id)]
    assert entry.reason == "not needed"
    assert entry.before["status"] == Status.QUEUED and entry.after["status"] == Status.CANCELED


def test_it_writes_one_entry_naming_count_and_ids_for_a_bulk_cancel(client, users):
    jobs = [make_job() for _ in range(4)]
    login(client, users["operator"])
    before = _last_id()
    response = post_confirmed(
        client, reverse("jobs:jobs-cancel"), {"ids": [j.id for j in jobs], "reason": "duplicates"}
    )
    assert response.status_code == 302
    [entry] = _new_entries(before)
    assert entry.action == "jobs.cancel"
    assert sorted(entry.object_ids) == sorted(str(j.id) for j in jobs)
    assert entry.after["count"] == 4


def test_it_writes_a_denied_entry_on_403(client, users):
    entry = make_dlq_entry()
    login(client, users["viewer"])
    before = _last_id()
    response = client.post(reverse("jobs:dlq-retry", args=[entry.job_id]))
    assert response.status_code == 403
    [denied] = _new_entries(before)
    assert (denied.actor, denied.action, denied.outcome) == ("viewer", "dlq.retry", "denied")
    assert denied.object_ids == [str(entry.job_id)]
    assert "missing permission jobs.retry_job" in denied.reason


def test_it_writes_nothing_when_the_input_is_refused(client, users):
    job = make_job()
    login(client, users["operator"])
    before = _last_id()
    response = client.post(reverse("jobs:job-cancel", args=[job.id]), {"reason": "  "})
    assert response.status_code == 400
    assert _new_entries(before) == []
    job.refresh_from_db()
    assert job.status == Status.QUEUED


@pytest.mark.parametrize("statement", ["UPDATE jobs_auditentry SET reason = 'x'", "DELETE FROM jobs_auditentry"])
def test_it_has_the_database_refuse_update_and_delete(client, users, statement):
    job = make_job()
    login(client, users["operator"]).post(reverse("jobs:job-cancel", args=[job.id]), {"reason": "r"})
    assert AuditEntry.objects.exists()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEntry.objects.filter(reason="r").exists()


def test_it_catches_an_altered_row_on_the_audit_page(client, users):
    login(client, users["operator"])
    for _ in range(3):
        client.post(reverse("jobs:job-cancel", args=[make_job().id]), {"reason": "original"})
    assert audit_verify().ok
    # An entry the page's verification reads: the last verified one of its chain (an entry
    # before it is left to the full verification, and entries go to chains at random).
    target = AuditEntry.objects.get(id=AuditCheckpoint.objects.order_by("entry_id")[1].entry_id)
    # Tamper as a database superuser would: switch the append-only trigger off for one UPDATE.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jobs_auditentry DISABLE TRIGGER jobs_auditentry_append_only")
        cursor.execute("UPDATE jobs_auditentry SET reason = 'rewritten' WHERE id = %s", [target.id])
        cursor.execute("ALTER TABLE jobs_auditentry ENABLE TRIGGER jobs_auditentry_append_only")
    report = audit_verify()
    assert not report.ok and report.broken_at == target.id
    login(client, users["auditor"])
    page = client.get(reverse("jobs:audit-verify")).text
    assert 'data-chain="broken"' in page
    assert f"Chain broken at entry #{target.id}" in page


def test_it_shows_each_action_in_the_trail_and_exports_it(client, users):
    job = make_job()
    login(client, users["admin"]).post(reverse("jobs:job-cancel", args=[job.id]), {"reason": "gone"})
    login(client, users["auditor"])
    page = client.get(reverse("jobs:audit-list") + "?action=job.cancel&actor=admin")
    assert page.status_code == 200
    assert [e.action for e in page.context["page"].items] == ["job.cancel"]
    csv = b"".join(client.get(reverse("jobs:audit-export") + "?action=job.cancel").streaming_content).decode()
    header, row = csv.strip().splitlines()
    assert header.startswith("id,created_at,actor")
    assert ",admin,web,job.cancel,ok," in row and str(job.id) in row
