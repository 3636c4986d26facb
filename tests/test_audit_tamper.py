"""Tampering with the audit trail with the database's own credentials, and what catches it.

The application's role (grant_app_role) cannot truncate the trail, rewrite it or touch
its triggers. Whoever can (the owner, a superuser) still cannot make a verification pass:
the anchors signed outside the database (services/audit_anchor.py) name entries whose
removal or re-hashing shows.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from jobs.models import AuditChainHead, AuditCheckpoint, AuditEntry, Job, Status
from jobs.services.audit import (
    Actor,
    audit_chains_ensure,
    audit_record,
    audit_verify,
    audit_verify_since_checkpoint,
    entry_digest,
)
from jobs.services.audit_anchor import anchor_latest
from jobs.services.submission import job_submit
from tests.support.audit import tamper
from tests.support.processes import process_env, the_test_database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

APP_ROLE = "jobs_app_tests"


@pytest.fixture
def trail(roles):
    """An intact trail over several chains, verified once (which writes the first anchor)."""
    audit_chains_ensure()
    for n in range(40):
        with transaction.atomic():
            audit_record(Actor.cli("ops"), action="test.step", object_ids=[n])
    report = audit_verify()
    assert report.ok and anchor_latest()[0] is not None
    return report


@pytest.fixture
def app_role(roles):
    """A login role that is not the owner, with what grant_app_role gives the application."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
    call_command("grant_app_role", APP_ROLE)
    return the_test_database_url().replace("postgres://postgres@", f"postgres://{APP_ROLE}@", 1)


def as_app(url: str, statement: str) -> str:
    """Run ``statement`` as the application's role: "" when it went through, else PostgreSQL's refusal."""
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as app:
        try:
            app.execute(statement)
        except psycopg.Error as exc:
            return str(exc).splitlines()[0]
    return ""


def last_entries(chain: int, count: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(chain=chain).order_by("-id")[:count])[::-1]


def busiest_chain() -> int:
    counts: dict[int, int] = {}
    for chain in AuditEntry.objects.values_list("chain", flat=True):
        counts[chain] = counts.get(chain, 0) + 1
    return max(counts, key=lambda chain: counts[chain])


# -- the application's role -----------------------------------------------------------------


def test_the_applications_role_cannot_truncate_rewrite_or_untrigger_the_trail(trail, app_role):
    assert "permission denied" in as_app(app_role, "TRUNCATE jobs_auditentry")
    assert "permission denied" in as_app(app_role, "UPDATE jobs_auditentry SET reason = 'edited'")
    assert "permission denied" in as_app(app_role, "DELETE FROM jobs_auditentry")
    assert "must be owner" in as_app(app_role, "ALTER TABLE jobs_auditentry DISABLE TRIGGER USER")
    assert "must be owner" in as_app(app_role, "DROP TRIGGER jobs_auditentry_append_only ON jobs_auditentry")
    assert AuditEntry.objects.count() == 40
    assert audit_verify().ok


def test_truncate_is_refused_even_to_a_role_that_was_granted_it(trail, app_role):
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT TRUNCATE ON jobs_auditentry TO {APP_ROLE}")
    try:
        refusal = as_app(app_role, "TRUNCATE jobs_auditentry")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"REVOKE TRUNCATE ON jobs_auditentry FROM {APP_ROLE}")
    assert "the audit trail is append-only: TRUNCATE refused" in refusal
    assert AuditEntry.objects.count() == 40


@pytest.mark.workers
def test_the_application_runs_under_that_role(trail, app_role, workers, cli):
    """Its grants are enough for the engine: a worker connected as the role runs a job and records it."""
    job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"as": "app role"})
    workers(1, env=process_env(DATABASE_URL=app_role))
    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.SUCCEEDED).exists(), timeout=30, message="ran")
    assert "permission denied" not in as_app(app_role, "SELECT count(*) FROM jobs_job")
    assert audit_verify().ok


# -- what verification now catches ------------------------------------------------------------


def test_removing_the_last_entries_and_resetting_the_head_is_caught(trail):
    chain = busiest_chain()
    *kept, removed1, removed2 = last_entries(chain, 4)
    tamper("DELETE FROM jobs_auditentry WHERE id IN (%s, %s)", [removed1.id, removed2.id])
    AuditChainHead.objects.filter(pk=chain).update(last_hash=kept[-1].hash)
    AuditCheckpoint.objects.filter(chain=chain).update(entry_id=kept[-1].id, hash=kept[-1].hash)

    for report in (audit_verify(), audit_verify_since_checkpoint()):
        assert not report.ok
        assert report.broken_at == removed2.id and "was removed" in report.problem


def test_rehashing_a_chain_from_an_edited_entry_is_caught(trail):
    chain = busiest_chain()
    entries = list(AuditEntry.objects.filter(chain=chain).order_by("id"))
    edited, previous = entries[1], entries[0].hash
    edited.reason = "nothing happened here"
    for entry in entries[1:]:  # what an attacker with the code does: every later hash made anew
        entry.prev_hash = previous
        entry.hash = entry_digest(entry)
        tamper("UPDATE jobs_auditentry SET reason = %s, prev_hash = %s, hash = %s WHERE id = %s",
               [entry.reason, entry.prev_hash, entry.hash, entry.id])  # fmt: skip
        previous = entry.hash
    AuditChainHead.objects.filter(pk=chain).update(last_hash=previous)
    AuditCheckpoint.objects.filter(chain=chain).update(hash=previous)

    for report in (audit_verify(), audit_verify_since_checkpoint()):
        assert not report.ok and "re-hashed" in report.problem
        assert report.broken_at == entries[-1].id


def test_truncating_the_trail_as_its_owner_and_resetting_every_head_is_caught(trail):
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE jobs_auditentry")
    AuditChainHead.objects.update(last_hash="0" * 64)
    AuditCheckpoint.objects.all().delete()

    report = audit_verify()
    assert not report.ok and "was removed" in report.problem


def test_an_altered_anchor_file_is_caught_and_not_written_over(trail, settings):
    path = settings.JOBS_AUDIT_ANCHOR_FILE
    anchor = json.loads(path.read_text().splitlines()[-1])
    first_chain = next(iter(anchor["chains"]))
    anchor["chains"][first_chain]["hash"] = "f" * 64  # to match a re-hashed chain, say
    path.write_text(json.dumps(anchor) + "\n")

    for _ in range(2):
        report = audit_verify()
        assert not report.ok and "anchor file was altered" in report.problem
    assert path.read_text().count("\n") == 1, "no new anchor hides the altered one"


def test_entries_appended_after_the_anchor_are_anchored_by_the_next_verification(trail, settings):
    settings.JOBS_AUDIT_ANCHOR_SECONDS = 0.0
    with transaction.atomic():
        audit_record(Actor.cli("ops"), action="test.later", object_ids=[str(uuid.uuid4())])
    assert audit_verify_since_checkpoint().ok
    latest, _ = anchor_latest()
    newest = AuditEntry.objects.latest("id")
    assert latest["chains"][str(newest.chain)] == {"entryId": newest.id, "hash": newest.hash}
    assert (settings.JOBS_AUDIT_ANCHOR_FILE.stat().st_mode & 0o777) == 0o600
