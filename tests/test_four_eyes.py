"""Four eyes: a destructive action one admin asks for runs only once a second admin confirms it.

On when JOBS_FOUR_EYES names the action (or says "on"); the request expires after
JOBS_FOUR_EYES_MINUTES. The request, the confirmation and the action are all in the
audit trail; the admin who asked is refused (and that refusal is recorded too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import ActionRequest, AuditEntry, DLQEntry
from jobs.services.four_eyes import action_requests_expire_due
from tests.support.api import last_audit
from tests.support.console import login, make_dlq_entry, post_confirmed
from tests.support.processes import ROOT
from tests.test_commands import jobs_cmd  # noqa: F401 (the fixture: `jobs` as a shell runs it)

pytestmark = pytest.mark.django_db

CLEAR = {"reason": "poisoned batch, triaged", "confirm": "clear the dlq"}


@pytest.fixture
def four_eyes(settings):
    settings.JOBS_FOUR_EYES = ["on"]
    settings.JOBS_FOUR_EYES_MINUTES = 15


@pytest.fixture
def second_admin(make_user):
    return make_user("admin", username="bea")


@pytest.fixture
def dlq():
    return [make_dlq_entry() for _ in range(3)]


def ask_to_clear(api) -> dict:
    response = api("admin").post("/api/dlq/clear", CLEAR)
    assert response.status_code == 202, response.json()
    return response.json()["request"]


def test_a_destructive_action_waits_for_a_second_admin_and_changes_nothing(four_eyes, api, dlq):
    request = ask_to_clear(api)

    assert (request["action"], request["requestedBy"], request["state"]) == ("dlq.clear", "admin", "pending")
    assert DLQEntry.objects.count() == 3
    entry = last_audit("four_eyes.request")
    assert (entry.actor, entry.reason, entry.after["action"]) == ("admin", CLEAR["reason"], "dlq.clear")
    assert not AuditEntry.objects.filter(action="dlq.clear").exists()


def test_the_admin_who_asked_may_not_confirm_and_the_refusal_is_recorded(four_eyes, api, dlq):
    request = ask_to_clear(api)

    response = api("admin").post(f"/api/requests/{request['id']}/confirm")

    assert response.status_code == 403
    assert "second admin" in response.json()["error"]
    assert DLQEntry.objects.count() == 3
    assert ActionRequest.objects.get(id=request["id"]).state == "pending"
    denied = AuditEntry.objects.get(action="four_eyes.confirm", outcome="denied")
    assert denied.actor == "admin"


def test_a_second_admin_confirms_and_the_action_runs_as_asked(four_eyes, api, dlq, second_admin):
    from tests.support.api import Api

    request = ask_to_clear(api)

    response = Api(second_admin).post(f"/api/requests/{request['id']}/confirm")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["removed"] == 3 and body["request"]["state"] == "confirmed" and body["request"]["decidedBy"] == "bea"
    assert DLQEntry.objects.count() == 0
    trail = AuditEntry.objects.exclude(action="token.create").order_by("id")
    actions = list(trail.values_list("action", "actor", "reason"))[-3:]
    assert actions == [
        ("four_eyes.request", "admin", CLEAR["reason"]),
        ("four_eyes.confirm", "bea", CLEAR["reason"]),
        ("dlq.clear", "bea", CLEAR["reason"]),
    ]


def test_a_request_past_its_time_expires_and_nothing_runs(four_eyes, api, dlq, second_admin):
    from tests.support.api import Api

    request = ask_to_clear(api)
    ActionRequest.objects.filter(id=request["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = Api(second_admin).post(f"/api/requests/{request['id']}/confirm")

    assert response.status_code == 409
    assert "expired" in response.json()["error"] and "nothing ran" in response.json()["error"]
    assert DLQEntry.objects.count() == 3
    assert ActionRequest.objects.get(id=request["id"]).state == "expired"
    assert last_audit("four_eyes.expired").actor == "bea"


def test_the_reconciler_expires_requests_left_unconfirmed(four_eyes, api, dlq):
    request = ask_to_clear(api)
    ActionRequest.objects.filter(id=request["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert action_requests_expire_due() == 1
    assert ActionRequest.objects.get(id=request["id"]).state == "expired"
    assert last_audit("four_eyes.expired").actor == "four-eyes"


def test_a_request_is_decided_once(four_eyes, api, dlq, second_admin):
    from tests.support.api import Api

    request = ask_to_clear(api)
    bea = Api(second_admin)
    assert bea.post(f"/api/requests/{request['id']}/reject", {"reason": "not during the release"}).status_code == 200

    response = bea.post(f"/api/requests/{request['id']}/confirm")

    assert response.status_code == 409 and "already rejected by bea" in response.json()["error"]
    assert DLQEntry.objects.count() == 3


def test_an_operator_may_not_confirm(four_eyes, api, dlq):
    request = ask_to_clear(api)

    assert api("operator").post(f"/api/requests/{request['id']}/confirm").status_code == 403
    assert DLQEntry.objects.count() == 3


def test_with_four_eyes_off_the_action_runs_at_once(api, dlq):
    response = api("admin").post("/api/dlq/clear", CLEAR)

    assert response.status_code == 200 and response.json()["removed"] == 3
    assert not ActionRequest.objects.exists()


def test_only_the_named_actions_wait(settings, api, dlq):
    settings.JOBS_FOUR_EYES = ["worker.disable"]

    assert api("admin").post("/api/dlq/clear", CLEAR).status_code == 200
    disable = api("admin").post("/api/worker/disable", {"reason": "maintenance"})
    assert disable.status_code == 202 and disable.json()["request"]["action"] == "worker.disable"


def test_the_console_shows_the_request_and_a_second_admin_confirms_it(four_eyes, client, users, dlq, second_admin):
    admin = login(client, users["admin"])
    asked = post_confirmed(admin, reverse("jobs:dlq-clear"), CLEAR, follow=True)  # after its preview
    assert "needs a second admin" in asked.text
    request = ActionRequest.objects.get()

    own = admin.get(reverse("jobs:request-list"))
    assert (
        "Another admin must confirm." in own.text and reverse("jobs:request-confirm", args=[request.id]) not in own.text
    )

    bea = login(client, second_admin)
    page = bea.get(reverse("jobs:request-list"))
    assert reverse("jobs:request-confirm", args=[request.id]) in page.text
    confirmed = bea.post(reverse("jobs:request-confirm", args=[request.id]), follow=True)
    assert "Confirmed request" in confirmed.text
    assert DLQEntry.objects.count() == 0


def test_the_cli_asks_and_another_admin_confirms(four_eyes, jobs_cmd, dlq, second_admin):  # noqa: F811
    asked = jobs_cmd("dlq", "clear", "--reason", "triaged", "--confirm", "clear the dlq")
    assert asked.code == 0, asked.err
    assert "needs a second admin" in asked.out
    request = ActionRequest.objects.get()

    listed = jobs_cmd("requests", "list")
    assert listed.json()[0]["id"] == str(request.id)
    confirmed = jobs_cmd("--as", "bea", "requests", "confirm", str(request.id))

    assert confirmed.code == 0, confirmed.err
    assert DLQEntry.objects.count() == 0


def test_a_misspelt_action_in_the_setting_stops_the_start():
    env = {**os.environ, "JOBS_FOUR_EYES": "dlq.clear,dlq.clera", "DJANGO_SETTINGS_MODULE": "jobsconsole.settings"}

    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert run.returncode != 0
    assert "JOBS_FOUR_EYES: dlq.clera cannot need a second admin" in run.stderr
