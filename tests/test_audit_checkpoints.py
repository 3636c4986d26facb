"""Incremental audit verification: from each chain's checkpoint, and the whole trail as a background operation."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from jobs.models import AuditCheckpoint, AuditEntry, BackgroundOperation
from jobs.services.audit import Actor, audit_chains_ensure, audit_record, audit_verify, audit_verify_since_checkpoint
from jobs.services.operations import operation_run
from tests.support.api import Api
from tests.support.audit import tamper
from tests.support.console import login

pytestmark = pytest.mark.django_db


def append(count: int, action: str = "test.entry") -> None:
    for n in range(count):
        with transaction.atomic():
            audit_record(Actor.cli("tests"), action=action, object_ids=[f"obj-{n}"])


@pytest.fixture(autouse=True)
def chains(db):
    audit_chains_ensure()


def test_it_checks_only_what_was_appended_since_the_last_verification():
    append(40)
    assert audit_verify_since_checkpoint().checked == 40  # no checkpoint yet: everything
    assert audit_verify_since_checkpoint().checked == 0
    append(7)
    report = audit_verify_since_checkpoint()
    assert report.ok and report.checked == 7
    newest = AuditEntry.objects.order_by("-id").first()
    assert AuditCheckpoint.objects.get(chain=newest.chain).entry_id == newest.id


def test_it_catches_an_entry_altered_after_the_checkpoint():
    append(10)
    audit_verify_since_checkpoint()
    append(5)
    victim = AuditEntry.objects.order_by("-id")[2]
    tamper("UPDATE jobs_auditentry SET reason = 'nothing to see' WHERE id = %s", [victim.id])
    report = audit_verify_since_checkpoint()
    assert not report.ok and report.broken_at == victim.id
    assert "altered" in report.problem


def test_it_catches_the_checkpointed_entry_altered_or_removed_and_the_tail_removed():
    append(10)
    audit_verify_since_checkpoint()
    anchor = AuditCheckpoint.objects.order_by("-entry_id").first()
    tamper("UPDATE jobs_auditentry SET actor = 'mallory' WHERE id = %s", [anchor.entry_id])
    report = audit_verify_since_checkpoint()
    assert not report.ok and report.broken_at == anchor.entry_id
    assert "verified last time was removed or altered" in report.problem

    tamper("DELETE FROM jobs_auditentry WHERE id = %s", [anchor.entry_id])
    assert not audit_verify_since_checkpoint().ok


def test_an_entry_altered_before_the_checkpoint_is_left_to_the_full_verification():
    append(100)  # over 32 chains: some chains hold several entries
    audit_verify_since_checkpoint()
    checkpointed = AuditCheckpoint.objects.values_list("entry_id", flat=True)
    earlier = AuditEntry.objects.exclude(id__in=checkpointed).order_by("id").first()
    tamper("UPDATE jobs_auditentry SET reason = 'rewritten' WHERE id = %s", [earlier.id])
    assert audit_verify_since_checkpoint().ok  # what incremental means: the cost of what is new
    full = audit_verify()
    assert not full.ok and full.broken_at == earlier.id


def test_the_whole_trail_is_verified_in_the_background_from_the_api(users):
    append(12)
    answer = Api(users["auditor"]).post("/api/audit/verify", {})
    assert answer.status_code == 202, answer.content
    operation_id = answer.json()["operation"]["id"]
    operation = operation_run(operation_id)  # as the worker that takes it would
    assert operation.state == BackgroundOperation.State.DONE
    assert operation.result["ok"] is True
    assert operation.result["checked"] == operation.done == AuditEntry.objects.count()
    assert AuditEntry.objects.filter(action="audit.verify", actor="auditor").count() == 1
    shown = Api(users["auditor"]).get(f"/api/operations/{operation_id}").json()
    assert shown["percent"] == 100 and shown["result"]["ok"] is True


def test_the_console_shows_a_broken_trail_found_by_the_full_verification(client, users):
    append(5)
    first = AuditEntry.objects.order_by("id").first()
    tamper("UPDATE jobs_auditentry SET reason = 'rewritten' WHERE id = %s", [first.id])
    login(client, users["auditor"])
    started = client.post(reverse("jobs:audit-verify-all"))
    assert started.status_code == 302
    operation = BackgroundOperation.objects.get(kind="audit.verify")
    operation_run(operation.id)
    page = client.get(started["Location"]).text
    assert "Verifying the whole audit trail" in page
    assert f"Chain broken at entry #{first.id}" in page


def test_a_role_without_the_audit_permission_cannot_start_it(users):
    answer = Api(users["operator"]).post("/api/audit/verify", {})
    assert answer.status_code == 403
    assert not BackgroundOperation.objects.filter(kind="audit.verify").exists()
