"""The approval watcher's poll against a fake GitHub on loopback."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs import selectors
from jobs.github.outbox import outbox_flush
from jobs.github.poll import approvals_poll
from jobs.github.source import parse_issue_number
from jobs.github.watcher_state import watcher_status
from jobs.models import AuditEntry, GitHubPollState, Job, Status
from jobs.services.approvals import EXPIRED_ERROR, approvals_expire_due, job_approve
from jobs.services.audit import Actor
from jobs.services.config import config_get, config_update
from jobs.services.submission import job_submit
from tests.support.fake_github import BOT, REPO, long_ago
from tests.support.processes import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def github(fake_github, redis_client):
    fake_github.set_permission("alice", "write")
    fake_github.set_permission("mallory", "read")
    return fake_github


def waiting_job(github, number: int, *, submitter: Actor | None = None, issue_id: str | None = None) -> Job:
    if number not in github.issues:
        github.add_issue(number, updated_at=long_ago(number))
    job, _ = job_submit(
        actor=submitter or Actor.cli("tests"),
        entrypoint="demo.noop",
        params={"issue": number},
        issue_id=issue_id or str(number),
    )
    assert job.status == Status.WAITING_APPROVAL
    return job


def expire(job: Job, *, minutes_ago: int = 1) -> None:
    Job.objects.filter(id=job.id).update(approval_expires_at=timezone.now() - timedelta(minutes=minutes_ago))


def check(job: Job) -> dict:
    out = io.StringIO()
    call_command("jobs", "approvals", "check", str(job.id), "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("label", ["approved", "plan-approved", "lgtm", "Approved", "PLAN-APPROVED", "LgTm"])
def test_it_approves_a_job_when_its_issue_gets_an_approval_label(github, label):
    job = waiting_job(github, 7)
    github.label(7, label, by="alice")

    report = approvals_poll()

    job.refresh_from_db()
    assert report["approved"] == 1
    assert job.status == Status.QUEUED
    assert job.approved_by == "github:alice"
    entry = AuditEntry.objects.get(action="job.approve", object_ids=[str(job.id)])
    assert (entry.actor, entry.source) == ("github:alice", "github")
    assert any("approved by @alice" in c["body"] for c in github.issues[7].comments)


def test_it_ignores_other_labels_and_labels_from_users_without_write_access(github):
    job = waiting_job(github, 8)
    github.label(8, "needs-review", by="alice")
    github.label(8, "approved", by="mallory")

    report = approvals_poll()

    job.refresh_from_db()
    assert report["approved"] == 0
    assert job.status == Status.WAITING_APPROVAL


def test_it_counts_only_whoever_added_the_label_last(github):
    job = waiting_job(github, 10)
    github.label(10, "approved", by="alice")
    github.unlabel(10, "approved")
    github.label(10, "approved", by="mallory")

    approvals_poll()

    job.refresh_from_db()
    assert job.status == Status.WAITING_APPROVAL


def test_it_fails_an_expired_job_even_if_labeled_and_comments_and_closes_the_issue(github):
    job = waiting_job(github, 9)
    github.label(9, "approved", by="alice")
    expire(job)

    report = approvals_poll()

    job.refresh_from_db()
    assert report["expired"] == 1
    assert (job.status, job.last_error) == (Status.FAILED, EXPIRED_ERROR)
    assert job.approved_by == ""
    assert github.issues[9].state == "closed"
    assert any("Approval TTL expired" in c["body"] for c in github.issues[9].comments)
    assert AuditEntry.objects.filter(action="job.expire", object_ids=[str(job.id)]).count() == 1


def waiting_on_url(url: str) -> Job:
    """A second job waiting on an issue, named by its web address (another jobKey than waiting_job's)."""
    job, _ = job_submit(actor=Actor.cli("tests"), entrypoint="demo.noop", params={"issueUrl": url}, issue_id=url)
    assert job.status == Status.WAITING_APPROVAL
    return job


def test_it_keeps_the_issue_open_while_a_job_naming_it_by_its_url_still_waits(github):
    job = waiting_job(github, 47)
    # The issue's page on the configured GitHub (this fake's loopback address, not github.com).
    other = waiting_on_url(f"{github.url}/{REPO}/issues/47")
    expire(job)

    approvals_poll()

    other.refresh_from_db()
    assert other.status == Status.WAITING_APPROVAL
    assert any("Approval TTL expired" in c["body"] for c in github.issues[47].comments)
    assert github.issues[47].state == "open"


def test_it_keeps_the_issue_open_while_a_job_naming_it_by_its_enterprise_url_still_waits(github, settings):
    class Recorder:  # outbox_flush's view of a GitHubClient
        def __init__(self) -> None:
            self.calls: list[tuple[str, int]] = []

        def comment(self, number: int, body: str) -> None:
            self.calls.append(("comment", number))

        def close(self, number: int) -> None:
            self.calls.append(("close", number))

    settings.JOBS_GITHUB_API_URL = "https://ghe.acme.internal/api/v3"
    job = waiting_job(github, 48)
    waiting_on_url(f"https://ghe.acme.internal/{REPO}/issues/48")
    expire(job)
    assert approvals_expire_due() == 1

    recorder = Recorder()
    assert outbox_flush(recorder) == 1
    assert recorder.calls == [("comment", 48)]

    # Once nothing waits on the issue any more, the next expiry closes it.
    Job.objects.filter(issue_id__endswith="/issues/48").update(approval_expires_at=timezone.now())
    assert approvals_expire_due() == 1
    recorder = Recorder()
    assert outbox_flush(recorder) == 1
    assert recorder.calls == [("comment", 48), ("close", 48)]


def test_it_reads_issue_references_of_the_configured_repository_only():
    assert parse_issue_number("42", REPO) == 42
    assert parse_issue_number("#42", REPO) == 42
    assert parse_issue_number(f"{REPO}#42", REPO) == 42
    assert parse_issue_number(f"https://github.com/{REPO}/issues/42", REPO) == 42
    assert parse_issue_number("other/repo#42", REPO) is None
    assert parse_issue_number("JIRA-42", REPO) is None
    assert parse_issue_number("0", REPO) is None


def test_it_force_checks_approved_expired_and_still_waiting_jobs(github):
    approved = waiting_job(github, 11)
    github.label(11, "lgtm", by="alice")
    expired = waiting_job(github, 12)
    expire(expired)
    waiting = waiting_job(github, 13)

    assert check(approved) == {"approved": True, "expired": False, "expiresInHours": pytest.approx(24, abs=0.1)}
    assert check(expired) == {"approved": False, "expired": True, "expiresInHours": 0}
    assert check(waiting) == {"approved": False, "expired": False, "expiresInHours": pytest.approx(24, abs=0.1)}
    approved.refresh_from_db()
    assert (approved.status, approved.approved_by) == (Status.QUEUED, "github:alice")
    approvals_poll()
    assert [c["body"] for c in github.issues[11].comments] == [f"Job `{approved.id}` approved by @alice and queued."]


def test_it_lists_expiring_jobs_and_warns_on_their_issue(github):
    soon = waiting_job(github, 21)
    Job.objects.filter(id=soon.id).update(approval_expires_at=timezone.now() + timedelta(minutes=30))
    later = waiting_job(github, 22)

    out = io.StringIO()
    call_command("jobs", "approvals", "expiring", stdout=out)
    approvals_poll()

    assert [j["id"] for j in json.loads(out.getvalue())] == [str(soon.id)]
    assert list(selectors.expiring_jobs(config_get())) == [soon]
    assert any("expires at" in c["body"] for c in github.issues[21].comments)
    assert github.issues[22].comments == []
    assert later.status == Status.WAITING_APPROVAL
    approvals_poll(force=True)
    assert len(github.issues[21].comments) == 1, "the warning is posted once"


def test_it_labels_the_issue_when_an_approver_approves_in_the_console(github, make_user):
    approver = make_user("approver", "ann")
    job = waiting_job(github, 31)

    job_approve(actor=Actor.for_user(approver), job_id=job.id, reason="looked fine")
    approvals_poll()

    assert github.issues[31].labels == ["approved"]
    assert github.issues[31].events[-1]["actor"]["login"] == BOT
    job.refresh_from_db()
    assert job.approved_by == "ann"


def test_it_asks_only_for_changes_after_the_first_poll(github):
    for number in range(1, 151):
        waiting_job(github, number)

    first = approvals_poll()
    second = approvals_poll(force=True)
    github.label(77, "approved", by="alice")
    third = approvals_poll(force=True)

    # first: the change marker + 2 GraphQL batches of 100; second: one 304 + the rolling
    # re-read of the 100 issues checked longest ago (1 GraphQL query); third: marker,
    # issues changed since, 1 GraphQL query (the changed one + 99 rolling), labeler's
    # permission, comment
    assert (first["requests"], second["requests"], third["requests"]) == (3, 2, 5)
    assert github.count(status=304) == 1
    assert third["approved"] == 1
    assert Job.objects.get(issue_id="77").approved_by == "github:alice"


def test_it_sees_a_label_that_did_not_move_the_issues_updated_at(github):
    github.without.add("bump")  # the change marker stays as it was
    job = waiting_job(github, 9)
    approvals_poll()
    github.label(9, "approved", by="alice")

    report = approvals_poll(force=True)

    job.refresh_from_db()
    assert (report["approved"], job.status, job.approved_by) == (1, Status.QUEUED, "github:alice")


def test_it_reads_a_github_without_graphql_over_rest_and_still_names_the_labeler(github):
    github.without.add("graphql")
    job = waiting_job(github, 11)
    other = waiting_job(github, 12)
    github.label(11, "lgtm", by="alice")

    report = approvals_poll()

    job.refresh_from_db()
    other.refresh_from_db()
    assert (report["approved"], job.status, job.approved_by) == (1, Status.QUEUED, "github:alice")
    assert other.status == Status.WAITING_APPROVAL
    assert github.count(method="GET", path_prefix=f"/repos/{REPO}/issues/11/events") == 1


def test_it_still_refuses_a_known_labeler_without_write_access_over_rest(github):
    github.without.add("graphql")
    job = waiting_job(github, 13)
    github.label(13, "approved", by="mallory")

    assert approvals_poll()["approved"] == 0
    job.refresh_from_db()
    assert job.status == Status.WAITING_APPROVAL


def test_it_approves_by_label_on_a_github_that_cannot_say_who_labeled(github):
    github.without.update({"graphql", "events", "list"})
    job = waiting_job(github, 14)
    github.label(14, "Approved", by="alice")

    report = approvals_poll()
    unlabeled = check(waiting_job(github, 15))
    assert (unlabeled["approved"], unlabeled["expired"]) == (False, False)

    job.refresh_from_db()
    assert (report["approved"], report.get("error"), job.status) == (1, None, Status.QUEUED)
    assert job.approved_by == "github:unknown-labeler"
    assert AuditEntry.objects.filter(action="job.approve", actor="github:unknown-labeler").count() == 1
    approvals_poll(force=True)  # delivers the approval comment
    assert any("approved by its approval label" in c["body"] for c in github.issues[14].comments)


def test_it_checks_a_newly_waiting_job_even_when_no_issue_changed(github):
    waiting_job(github, 300)
    approvals_poll()
    github.add_issue(5, labels=["approved"])
    github.issues[5].events[-1]["actor"]["login"] = "alice"
    github.issues[5].updated_at = long_ago(5)  # labeled long ago: not the repository's latest change
    job = waiting_job(github, 5)

    report = approvals_poll(force=True)

    assert github.count(status=304) == 1
    assert report["approved"] == 1
    job.refresh_from_db()
    assert job.approved_by == "github:alice"


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda fake: fake.fail(502), id="5xx"),
        pytest.param(lambda fake: fake.slow(1.5), id="timeout"),
        pytest.param(lambda fake: fake.rate_limit(403), id="rate-limit-403"),
        pytest.param(lambda fake: fake.rate_limit(429), id="rate-limit-429"),
    ],
)
def test_it_never_approves_on_github_errors_and_backs_off(github, outage):
    job = waiting_job(github, 41)
    github.label(41, "approved", by="alice")
    outage(github)

    started = time.monotonic()
    report = approvals_poll()
    took = time.monotonic() - started

    job.refresh_from_db()
    assert job.status == Status.WAITING_APPROVAL
    assert report["approved"] == 0 and report["error"]
    assert took < 5, "a slow GitHub is cut off by the client time-out"
    state = GitHubPollState.objects.get(pk=1)
    assert state.backoff_until > timezone.now()
    assert watcher_status()["backoffUntil"] is not None

    # The next tick honours the stored backoff: no request at all.
    github.reset_counts()
    assert approvals_poll(force=True)["skipped"]
    assert github.requests == []

    # Once GitHub is back and the backoff has passed, the label approves.
    github.fail(None)
    github.slow(0)
    github.rate_limit(None)
    GitHubPollState.objects.filter(pk=1).update(backoff_until=timezone.now(), rate_limit_reset=timezone.now())
    assert approvals_poll(force=True)["approved"] == 1
    assert GitHubPollState.objects.get(pk=1).backoff_until is None


def test_it_delivers_the_expiry_comment_once_github_is_back(github):
    job = waiting_job(github, 46)
    expire(job)
    github.fail(502)

    approvals_poll()

    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert (github.issues[46].comments, github.issues[46].state) == ([], "open")
    assert watcher_status()["pendingWrites"] == 1

    github.fail(None)
    GitHubPollState.objects.filter(pk=1).update(backoff_until=None)
    approvals_poll(force=True)

    assert github.issues[46].state == "closed"
    assert len(github.issues[46].comments) == 1
    assert watcher_status()["pendingWrites"] == 0


def test_it_backs_off_exponentially(github):
    waiting_job(github, 42)
    github.fail(503)
    delays = []
    for _ in range(3):
        GitHubPollState.objects.filter(pk=1).update(backoff_until=None)
        before = timezone.now()
        approvals_poll(force=True)
        delays.append((GitHubPollState.objects.get(pk=1).backoff_until - before).total_seconds())
    assert delays[0] < delays[1] < delays[2]


def test_it_reports_a_github_outage_on_force_check_and_changes_nothing(github):
    job = waiting_job(github, 43)
    github.label(43, "approved", by="alice")
    github.fail(500)

    with pytest.raises(CommandError, match="GitHub"):
        check(job)

    job.refresh_from_db()
    assert job.status == Status.WAITING_APPROVAL


def test_it_answers_the_apis_force_check_and_503_while_github_is_down(github, users):
    from tests.support.api import Api

    api = Api(users["operator"])
    down = waiting_job(github, 44)
    up = waiting_job(github, 45)
    github.label(44, "approved", by="alice")
    github.label(45, "approved", by="alice")
    github.fail(503)

    refused = api.post(f"/api/jobs/{down.id}/check-approval")
    github.fail(None)
    GitHubPollState.objects.filter(pk=1).update(backoff_until=None)
    answered = api.post(f"/api/jobs/{up.id}/check-approval")

    assert refused.status_code == 503 and "GitHub" in refused.content.decode()
    assert Job.objects.get(id=down.id).status == Status.WAITING_APPROVAL
    assert answered.status_code == 200
    assert answered.json() == {"approved": True, "expired": False, "expiresInHours": pytest.approx(24, abs=0.1)}


def test_it_says_when_github_is_not_configured_and_does_nothing(settings, redis_client):
    settings.JOBS_GITHUB_TOKEN = ""
    job, _ = job_submit(actor=Actor.cli("tests"), entrypoint="demo.noop", issue_id="5")

    status = watcher_status()
    report = approvals_poll()

    assert status["configured"] is False and "GITHUB_TOKEN" in status["message"]
    assert report["skipped"] == "GitHub not configured"
    with pytest.raises(CommandError, match="could not check: GitHub approvals are off"):
        check(job)  # says it could not ask, rather than "not approved yet"
    assert Job.objects.get(id=job.id).status == Status.WAITING_APPROVAL


def test_it_reports_its_last_poll_and_the_rate_limit_left(github):
    waiting_job(github, 71)
    assert watcher_status()["lastPollAt"] is None

    approvals_poll()
    status = watcher_status()

    assert status["configured"] is True and REPO in status["message"]
    assert status["lastPollAt"] is not None and status["backoffUntil"] is None
    assert status["rateLimitRemaining"] == github.rate_remaining


@pytest.mark.workers
def test_it_polls_on_schedule_with_a_real_worker_and_beat(github, workers, beat, cli):
    config_update(actor=cli, changes={"approval": {"pollIntervalMs": 1000}}, reason="fast watcher for the test")
    job = waiting_job(github, 51)
    env = process_env(**github.env())
    workers(1, env=env)
    beat(env=env)

    github.label(51, "Approved", by="alice")

    # Beat must tick at approval.pollIntervalMs (1 s here), not at the 30 s default.
    wait_for(lambda: Job.objects.get(id=job.id).status == Status.SUCCEEDED, timeout=20, message="job approved and run")
    job.refresh_from_db()
    assert job.approved_by == "github:alice"
    assert AuditEntry.objects.filter(action="job.approve", actor="github:alice").exists()
    wait_for(lambda: github.issues[51].comments, timeout=20, message="approval comment")
