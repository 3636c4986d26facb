"""`python manage.py jobs ...`: every subcommand's success path, and bad input that changes nothing.

Commands run through Django's command-line entry (ManagementUtility), in this
process so they share the test database: the same argument parsing, the same
"CommandError: ..." line on standard error and the same exit status as a shell.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import ManagementUtility
from django.db import connections
from django.utils import timezone

from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.models import ApiToken, AuditEntry, DLQEntry, Event, Job, RuntimeConfig, Status
from jobs.services.config import config_get
from jobs.services.lifecycle import job_force_fail
from jobs.services.submission import job_submit
from tests.conftest import PASSWORD
from tests.support.console import live_worker
from tests.support.processes import ROOT

pytestmark = pytest.mark.django_db


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def jobs_cmd(capsys, roles, monkeypatch):
    """Run `manage.py jobs ARGS` as the shell does; returns exit code, stdout and stderr."""
    # run_from_argv closes every connection when it ends; in this process that
    # would close the test's transaction, so only that last step is left out.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = 0
        try:
            ManagementUtility(["manage.py", "jobs", *args]).execute()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def state() -> dict:
    """What a bad command must leave as it was."""
    user_model = get_user_model()
    return {
        "jobs": sorted(
            (str(i), s, a, e) for i, s, a, e in Job.objects.values_list("id", "status", "attempts", "last_error")
        ),
        "dlq": sorted(str(i) for i in DLQEntry.objects.values_list("job_id", flat=True)),
        "events": Event.objects.count(),
        "audit": AuditEntry.objects.filter(outcome="ok").count(),
        "config": list(RuntimeConfig.objects.values_list("overrides", flat=True)),
        "users": sorted(user_model.objects.values_list("username", "password", "is_active")),
        "groups": sorted(user_model.objects.values_list("username", "groups__name")),
        "tokens": sorted(ApiToken.objects.values_list("id", "revoked_at")),
    }


@pytest.fixture
def world(cli):
    """A queued job, a failed job in the DLQ, a job waiting for approval, a low-priority job."""
    failed, _ = job_submit(
        actor=cli, entrypoint="demo.fail", params={"message": "boom"}, max_attempts=1, priority="critical"
    )
    claimed = job_claim_next(worker="w-test")
    assert job_execute(claimed, worker="w-test") == Status.FAILED
    queued, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"q": 1})
    waiting, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"w": 1}, issue_id="77")
    low, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"l": 1}, priority="low")
    return {"failed": str(failed.id), "queued": str(queued.id), "waiting": str(waiting.id), "low": str(low.id)}


def fill(text: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        text = text.replace("{" + name + "}", value)
    return text


BAD_INPUT = [
    ([], "the following arguments are required: subcommand"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["list", "--status", "nope"], "invalid choice: 'nope'"),
    (["list", "--limit", "0"], "--limit: must be from 1 to 10000"),
    (["list", "--limit", "many"], "invalid int value: 'many'"),
    (["show", "not-a-uuid"], "job id 'not-a-uuid' is not a valid id"),
    (["show", "{missing}"], "job {missing} not found"),
    (["submit", "demo.nope"], "entrypoint: unknown entry point 'demo.nope'"),
    (["submit", "demo.noop", "--params", "[1]"], "params: Input should be a valid dictionary"),
    (["submit", "demo.noop", "--params", "{bad"], "--params: invalid JSON"),
    (["submit", "demo.noop", "--priority", "urgent"], "priority: Input should be 'critical', 'high', 'normal' or"),
    (["submit", "demo.noop", "--max-attempts", "0"], "maxAttempts: Input should be greater than or equal to 1"),
    (["cancel", "{queued}"], "reason: required"),
    (["cancel", "{queued}", "--reason", "  "], "reason: required"),
    (["cancel", "{failed}", "--reason", "late"], "is already failed"),
    (["cancel", "{missing}", "--reason", "x"], "not found"),
    (["cancel-low-priority", "--reason", ""], "reason: required"),
    (["fail", "{failed}", "--reason", "again"], "is already failed"),
    (["dlq"], "the following arguments are required: action"),
    (["dlq", "nope"], "invalid choice: 'nope'"),
    (["dlq", "retry", "{queued}"], "is not in the DLQ"),
    (["dlq", "retry", "42"], "job id '42' is not a valid id"),
    (["dlq", "clear"], "reason: required"),
    (["dlq", "clear", "--reason", "noise"], 'confirm: type "clear the dlq" to confirm'),
    (["dlq", "clear", "--reason", " "], "reason: required"),
    (["approvals", "check", "{queued}"], "is queued, not waiting for approval"),
    (["approvals", "approve", "{failed}"], "is failed, not waiting for approval"),
    (["approvals", "reject", "{waiting}"], "reason: required"),
    (["worker", "enable", "--reason", " "], "reason: required"),
    (["worker", "disable"], "reason: required"),
    (["worker", "disable", "--reason", "x", "--confirm", "yes"], 'confirm: type "disable job system" to confirm'),
    (["force-fail-running", "--reason", ""], "reason: required"),
    (["clear-all", "--reason", "test", "--confirm", "yes"], 'confirm: type "clear all jobs" to confirm'),
    (["export-jsonl", "/nonexistent/dir/jobs.jsonl"], "/nonexistent/dir/jobs.jsonl: No such file or directory"),
    (["import-jsonl", "/nonexistent/jobs.jsonl"], "/nonexistent/jobs.jsonl: cannot read"),
    (["audit", "list", "--limit", "0"], "--limit: must be from 1 to 10000"),
    (["audit", "export", "/nonexistent/dir/audit.csv"], "/nonexistent/dir/audit.csv: No such file or directory"),
    (["user", "add", "bob", "--role", "king"], "invalid choice: 'king'"),
    (["user", "add", "bob", "--role", "viewer", "--password", "short"], "password:"),
    (["token", "create", "nobody"], "no user named 'nobody'"),
    (["token", "revoke", "999999"], "token 999999 not found"),
    (["--as", "nobody", "health"], "--as: no user named 'nobody'"),
    (["--as", "viewer", "cancel", "{queued}", "--reason", "mine"], "permission denied"),
]


@pytest.mark.parametrize(("args", "error"), BAD_INPUT, ids=[" ".join(a) or "(none)" for a, _ in BAD_INPUT])
def test_it_refuses_bad_input_with_one_line_and_a_non_zero_exit_changing_nothing(
    jobs_cmd, world, make_user, args, error
):
    make_user("viewer")
    ids = {**world, "missing": str(uuid.uuid4())}
    args = [fill(arg, ids) for arg in args]
    before = state()

    result = jobs_cmd(*args)

    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("CommandError: ") and fill(error, ids) in lines[0]
    assert "Traceback" not in result.err
    assert state() == before


def test_it_reports_health_lists_and_shows_jobs(jobs_cmd, world):
    live_worker()
    health = jobs_cmd("health")
    assert health.code == 0
    assert health.json()["status"] == "healthy"
    assert health.json()["data"]["jobs"]["store"]["queued"] == 2

    listed = jobs_cmd("list", "--status", "queued")
    assert {job["id"] for job in listed.json()} == {world["queued"], world["low"]}
    assert [job["id"] for job in jobs_cmd("list", "--priority", "low").json()] == [world["low"]]
    assert len(jobs_cmd("list", "--entrypoint", "demo.noop", "--limit", "2").json()) == 2

    shown = jobs_cmd("show", world["failed"]).json()
    assert shown["status"] == "failed" and shown["lastError"] == "RuntimeError: boom"
    assert [e["type"] for e in shown["events"]] == ["job:submitted", "job:started", "job:failed", "job:dlq"]


def test_it_submits_cancels_and_fails_jobs(jobs_cmd, world):
    submitted = jobs_cmd(
        "submit", "demo.sleep", "--params", '{"seconds": 1}', "--priority", "high", "--max-attempts", "5"
    )
    assert submitted.code == 0 and submitted.out.startswith("submitted ")
    job = Job.objects.get(entrypoint="demo.sleep")
    assert submitted.out.strip() == f"submitted job {job.id} (queued)"
    assert (job.params, job.priority_label, job.max_attempts, job.submitted_by) == (
        {"seconds": 1},
        "high",
        5,
        job.submitted_by,
    )
    assert job.submitted_by.startswith("cli:")
    again = jobs_cmd("submit", "demo.sleep", "--params", '{"seconds": 1}')
    assert again.out.strip() == f"already active: job {job.id} (queued)"
    keyed = jobs_cmd("submit", "demo.noop", "--job-key", "k-1", "--issue-id", "5")
    assert keyed.out.strip().endswith("(waiting_approval)")

    assert jobs_cmd("cancel", str(job.id), "--reason", "not today").out.strip() == f"canceled job {job.id}"
    job.refresh_from_db()
    assert (job.status, job.status_reason) == ("canceled", "not today")

    assert jobs_cmd("cancel-low-priority", "--reason", "relief").out.strip() == "canceled 1 low-priority jobs"
    assert Job.objects.get(id=world["low"]).status == "canceled"

    failed = jobs_cmd("fail", world["queued"], "--reason", "operator says so")
    assert failed.out.strip() == f"force-failed job {world['queued']}; it is in the DLQ"
    assert DLQEntry.objects.get(job_id=world["queued"]).reason == "Force-failed: operator says so"


def test_it_force_fails_running_jobs_and_clears_all_after_an_export(jobs_cmd, world, settings):
    claimed = job_claim_next(worker="w-test")
    assert claimed.status == "running"
    result = jobs_cmd("force-fail-running", "--reason", "emergency drill", "--confirm", "force fail running")
    assert result.out.strip() == "force-failed 1 running jobs; they are in the DLQ"
    assert Job.objects.get(id=claimed.id).last_error == "emergency drill"

    result = jobs_cmd("clear-all", "--reason", "fresh start", "--confirm", "clear all jobs")
    assert result.code == 0 and result.out.startswith("removed 4 jobs; export written to ")
    export = Path(result.out.strip().rsplit(" ", 1)[1])
    assert len(export.read_text().splitlines()) == 4
    assert not Job.objects.exists()


def test_it_refuses_to_clear_all_while_a_job_runs_as_the_api_does(jobs_cmd, world):
    job_claim_next(worker="w-test")

    result = jobs_cmd("clear-all", "--reason", "fresh start", "--confirm", "clear all jobs")

    assert result.code == 1
    assert result.err.strip() == (
        "CommandError: 1 job running: clear all would delete it while the code runs. "
        "Disable the job system and force-fail running jobs first, then clear all."
    )
    assert Job.objects.count() == 4


def test_it_lists_retries_clears_and_cleans_the_dlq(jobs_cmd, world, cli):
    entries = jobs_cmd("dlq", "list").json()
    assert [(e["job"]["id"], e["reason"], e["attempts"]) for e in entries] == [
        (world["failed"], "Max attempts exceeded (1/1)", 1)
    ]
    assert jobs_cmd("dlq", "list", "--reason", "nothing like it").json() == []

    retried = jobs_cmd("dlq", "retry", world["failed"])
    new = Job.objects.get(retried_from_id=world["failed"])
    assert retried.out.strip() == f"retried job {world['failed']} as new job {new.id}"

    for n in range(2):
        job, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"n": n})
        job_force_fail(actor=cli, job_id=job.id, reason="into the DLQ")
    retried_all = jobs_cmd("dlq", "retry-all", "--reason", "upstream fixed").out.strip().splitlines()
    assert retried_all[0].startswith("retrying every entry present now (2) in the background: operation ")
    assert retried_all[-1] == "retried 2 DLQ entries"
    assert not DLQEntry.objects.exists()

    job, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"x": 1})
    job_force_fail(actor=cli, job_id=job.id, reason="into the DLQ")
    assert jobs_cmd("dlq", "clean-expired").out.strip() == "removed 0 expired DLQ entries"
    DLQEntry.objects.update(added_at=timezone.now() - timedelta(days=40))
    assert jobs_cmd("dlq", "clean-expired").out.strip() == "removed 1 expired DLQ entries"

    job, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"y": 1})
    job_force_fail(actor=cli, job_id=job.id, reason="into the DLQ")
    cleared = jobs_cmd("dlq", "clear", "--reason", "triaged", "--confirm", "clear the dlq")
    assert cleared.out.startswith("removed 1 DLQ entries; export written to ")
    assert not DLQEntry.objects.exists() and Job.objects.filter(id=job.id, status="failed").exists()


def test_it_lists_checks_approves_and_rejects_waiting_jobs(jobs_cmd, world, cli, fake_github):
    assert [j["id"] for j in jobs_cmd("approvals", "list").json()] == [world["waiting"]]
    assert jobs_cmd("approvals", "expiring").json() == []
    Job.objects.filter(id=world["waiting"]).update(approval_expires_at=timezone.now() + timedelta(minutes=30))
    assert [j["id"] for j in jobs_cmd("approvals", "expiring").json()] == [world["waiting"]]

    check = jobs_cmd("approvals", "check", world["waiting"], "--json").json()
    assert check["approved"] is False and check["expired"] is False and 0 < check["expiresInHours"] <= 0.5

    assert jobs_cmd("approvals", "approve", world["waiting"], "--reason", "ok").out.strip() == (
        f"approved job {world['waiting']}; it is queued"
    )
    other, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"r": 1}, issue_id="78")
    rejected = jobs_cmd("approvals", "reject", str(other.id), "--reason", "too risky")
    assert rejected.out.strip() == f"rejected job {other.id}; it is canceled"
    other.refresh_from_db()
    assert (other.status, other.status_reason) == ("canceled", "Rejected: too risky")


def test_it_shows_worker_stats_and_disables_and_enables_the_system(jobs_cmd, world):
    stats = jobs_cmd("worker", "stats").json()
    assert {"running", "processed", "succeeded", "failed", "currentJob", "items"} <= set(stats)

    disabled = jobs_cmd("worker", "disable", "--reason", "maintenance", "--confirm", "disable job system")
    assert disabled.out.startswith("job system disabled")
    assert config_get().worker.enabled is False
    assert job_claim_next(worker="w-test") is None, "no admission while disabled"
    enabled = jobs_cmd("worker", "enable", "--reason", "done")
    assert enabled.out.strip() == "job system enabled: workers admit jobs again"
    assert config_get().worker.enabled is True
    assert job_claim_next(worker="w-test") is not None


def test_it_exports_and_imports_jobs_as_jsonl(jobs_cmd, world, tmp_path):
    path = tmp_path / "jobs.jsonl"
    assert jobs_cmd("export-jsonl", str(path)).out.strip() == f"exported 4 jobs to {path}"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {row["id"] for row in rows} == set(world.values())
    assert len(jobs_cmd("export-jsonl", "-").out.strip().splitlines()) == 4

    jobs_cmd("clear-all", "--reason", "move to another store", "--confirm", "clear all jobs")
    assert not Job.objects.exists()
    imported = jobs_cmd("import-jsonl", str(path))
    assert imported.code == 0, imported.err
    assert imported.out.strip() == "imported 4 jobs, 0 already present, 0 bad lines skipped"
    assert set(map(str, Job.objects.values_list("id", flat=True))) == set(world.values())


def test_it_lists_verifies_and_exports_the_audit_trail(jobs_cmd, world, tmp_path):
    jobs_cmd("cancel", world["queued"], "--reason", "audited")
    entries = jobs_cmd("audit", "list", "--action", "job.cancel").json()
    assert [(e["action"], e["reason"], e["objectIds"]) for e in entries] == [
        ("job.cancel", "audited", [world["queued"]])
    ]
    verified = jobs_cmd("audit", "verify")
    assert verified.code == 0 and verified.out.startswith("audit chain intact: ")
    path = tmp_path / "audit.csv"
    assert jobs_cmd("audit", "export", str(path)).out.strip() == f"audit trail written to {path}"
    assert "job.cancel" in path.read_text()


def test_it_adds_users_and_creates_and_revokes_tokens(jobs_cmd):
    added = jobs_cmd("user", "add", "carol", "--role", "operator", "--password", PASSWORD)
    assert added.out.strip() == "created user carol with role operator"
    assert get_user_model().objects.get(username="carol").check_password(PASSWORD)
    assert jobs_cmd("user", "add", "carol", "--role", "approver").out.strip() == "updated user carol with role approver"
    assert list(get_user_model().objects.get(username="carol").groups.values_list("name", flat=True)) == ["approver"]

    created = jobs_cmd("token", "create", "carol", "--label", "ci")
    secret = created.out.strip().splitlines()[-1]
    token = ApiToken.objects.get(user__username="carol")
    assert len(secret) >= 32 and token.is_active and secret not in token.token_hash
    assert jobs_cmd("token", "revoke", str(token.pk)).out.strip() == f"revoked token {token.pk}"
    token.refresh_from_db()
    assert not token.is_active


def test_it_runs_the_reconciler_once(jobs_cmd, world):
    report = jobs_cmd("reconcile").json()
    assert set(report) >= {"recovered", "timedOut", "expired", "published"}


def test_it_exits_non_zero_with_one_line_from_a_real_shell(transactional_db):
    """The same contract, end to end, in a separate process."""
    from tests.support.processes import process_env

    run = subprocess.run(
        [sys.executable, "manage.py", "jobs", "cancel", "not-an-id", "--reason", "x"],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.strip() == "CommandError: job id 'not-an-id' is not a valid id"
    ok = subprocess.run(
        [sys.executable, "manage.py", "jobs", "health"],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] in {"healthy", "degraded"}
