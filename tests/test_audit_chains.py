"""The audit trail as several hash chains: concurrent writers do not wait, and verify still catches tampering."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from jobs.models import AuditChainHead, AuditEntry
from jobs.services.audit import Actor, audit_chains_ensure, audit_record, audit_verify
from jobs.services.submission import job_submit
from tests.support.audit import tamper

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_submission_does_not_wait_for_another_transaction_that_is_writing_the_trail(roles, cli):
    audit_chains_ensure()  # as the migration does; the flush between tests removed them
    holding = threading.Event()
    release = threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                audit_record(Actor.cli("slow"), action="test.slow")
                holding.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert holding.wait(timeout=10)
        started = time.monotonic()
        for n in range(5):
            job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
        waited = time.monotonic() - started
    finally:
        release.set()
        writer.join(timeout=20)
    assert waited < 5, f"submissions queued behind an open audit transaction ({waited:.1f}s)"
    assert AuditEntry.objects.filter(action="job.submit").count() == 5
    assert audit_verify().ok


def _entries_on_several_chains(cli) -> list[AuditEntry]:
    threads = []

    def submit(n: int) -> None:
        try:
            for m in range(15):
                job_submit(actor=cli, entrypoint="demo.noop", params={"n": n, "m": m})
        finally:
            connection.close()

    for n in range(4):
        threads.append(threading.Thread(target=submit, args=(n,)))
        threads[-1].start()
    for thread in threads:
        thread.join(timeout=30)
    return list(AuditEntry.objects.order_by("id"))


def test_verify_passes_on_an_intact_trail_spread_over_several_chains(roles, cli):
    entries = _entries_on_several_chains(cli)
    assert len({entry.chain for entry in entries}) > 1
    report = audit_verify()
    assert report.ok and report.checked == len(entries)


def test_verify_catches_the_last_entry_of_any_chain_removed(roles, cli):
    entries = _entries_on_several_chains(cli)
    chain = max({entry.chain for entry in entries} - {entries[0].chain})
    last = AuditEntry.objects.filter(chain=chain).order_by("-id").first()
    tamper("DELETE FROM jobs_auditentry WHERE id = %s", [last.id])

    report = audit_verify()
    assert not report.ok and "removed" in report.problem


def test_verify_catches_an_entry_removed_from_the_middle_of_a_chain(roles, cli):
    entries = _entries_on_several_chains(cli)
    chain = Counter(entry.chain for entry in entries).most_common(1)[0][0]
    middle = list(AuditEntry.objects.filter(chain=chain).order_by("id"))
    assert len(middle) >= 3
    tamper("DELETE FROM jobs_auditentry WHERE id = %s", [middle[1].id])

    report = audit_verify()
    assert not report.ok and report.broken_at == middle[2].id


def test_verify_catches_a_chain_head_removed(roles, cli):
    entries = _entries_on_several_chains(cli)
    AuditChainHead.objects.filter(pk=entries[-1].chain).delete()
    report = audit_verify()
    assert not report.ok and "no head" in report.problem
