"""POST /github/webhook: signatures, replays, malformed bodies, and who may approve by label."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest

from jobs.github.webhook import signature_valid
from jobs.models import AuditEntry, GitHubDelivery, Job, Status
from jobs.services.submission import job_submit
from tests.support.fake_github import REPO
from tests.support.processes import process_env, wait_for

URL = "/github/webhook"
SECRET = "webhook-secret"  # what the fake_github fixture configures


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def labeled(number: int, label: str, sender: str, *, repo: str = REPO) -> bytes:
    return json.dumps(
        {
            "action": "labeled",
            "issue": {"number": number, "labels": [{"name": label}]},
            "label": {"name": label},
            "sender": {"login": sender},
            "repository": {"full_name": repo},
        }
    ).encode()


def deliver(client, body: bytes, *, event: str = "issues", delivery: str | None = None, signature: str | None = None):
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body) if signature is None else signature,
    }
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def test_it_verifies_githubs_documented_signature_example():
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    assert signature_valid("It's a Secret to Everybody", body, expected)
    assert not signature_valid("It's a Secret to Everybody", body + b" ", expected)
    assert not signature_valid("", body, expected)
    assert not signature_valid("It's a Secret to Everybody", body, expected.removeprefix("sha256="))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature", ["", "sha256=" + "0" * 64, sign(b"something else"), sign(labeled(1, "approved", "alice"), "wrong")]
)
def test_it_refuses_a_missing_or_wrong_signature(client, fake_github, signature):
    response = deliver(client, labeled(1, "approved", "alice"), signature=signature)

    assert response.status_code == 403
    assert not GitHubDelivery.objects.exists()


@pytest.mark.django_db
def test_it_refuses_every_delivery_when_no_secret_is_configured(client, fake_github, settings):
    settings.JOBS_GITHUB_WEBHOOK_SECRET = ""
    body = labeled(1, "approved", "alice")

    assert deliver(client, body, signature=sign(body, "")).status_code == 403
    assert not GitHubDelivery.objects.exists()


@pytest.mark.django_db
def test_it_answers_ping_with_204(client, fake_github):
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'

    assert deliver(client, body, event="ping").status_code == 204


@pytest.mark.django_db
def test_it_refuses_the_wrong_method(client, fake_github):
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"action": "labeled"}',
        b'{"action": "labeled", "issue": {"number": "x"}, "label": {"name": "approved"}, '
        b'"sender": {"login": "alice"}, "repository": {"full_name": "acme/ops"}}',
        # A number too large for any float, and nesting deeper than the parser's recursion limit.
        b'{"action": "labeled", "issue": {"number": 1e999}, "label": {"name": "approved"}, '
        b'"sender": {"login": "alice"}, "repository": {"full_name": "acme/ops"}}',
        b'{"action": "labeled", "issue": {"number": 1.5}, "label": {"name": "approved"}, '
        b'"sender": {"login": "alice"}, "repository": {"full_name": "acme/ops"}}',
        b'{"action": "labeled", "issue": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["not-json", "list", "no-issue", "text-number", "huge-number", "fraction", "deep-nesting"],
)
def test_it_answers_400_to_a_malformed_body_and_changes_nothing(client, fake_github, body):
    response = deliver(client, body)

    assert response.status_code == 400
    assert not GitHubDelivery.objects.exists()


@pytest.mark.django_db
def test_it_records_a_delivery_once_and_answers_a_replay_with_204(client, fake_github):
    body = labeled(1, "approved", "alice")

    first = deliver(client, body, delivery="d-1")
    replay = deliver(client, body, delivery="d-1")

    assert (first.status_code, replay.status_code) == (204, 204)
    assert list(GitHubDelivery.objects.values_list("delivery_id", flat=True)) == ["d-1"]


@pytest.mark.workers
def test_it_approves_on_a_label_from_a_writer_only_once_and_refuses_other_senders(client, fake_github, workers, cli):
    fake_github.set_permission("alice", "maintain")
    fake_github.set_permission("mallory", "triage")
    for number in (61, 62):
        fake_github.add_issue(number)
    good, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 61}, issue_id="61")
    bad, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 62}, issue_id="62")
    workers(1, env=process_env(**fake_github.env(GITHUB_WEBHOOK_SECRET=SECRET)))
    fake_github.label(62, "approved", by="mallory")
    assert deliver(client, labeled(62, "approved", "mallory"), delivery="m-1").status_code == 204
    fake_github.label(61, "LGTM", by="alice")
    assert deliver(client, labeled(61, "LGTM", "alice"), delivery="a-1").status_code == 204
    assert deliver(client, labeled(61, "LGTM", "alice"), delivery="a-1").status_code == 204

    wait_for(lambda: Job.objects.get(id=good.id).status != Status.WAITING_APPROVAL, timeout=30, message="approval")
    good.refresh_from_db()
    assert good.approved_by == "github:alice"
    assert AuditEntry.objects.filter(action="job.approve", object_ids=[str(good.id)]).count() == 1
    denied = wait_for(
        lambda: AuditEntry.objects.filter(action="job.approve", outcome="denied", object_ids=[str(bad.id)]).first(),
        timeout=10,
        message="refusal recorded",
    )
    assert denied.actor == "github:mallory"
    bad.refresh_from_db()
    assert bad.status == Status.WAITING_APPROVAL
