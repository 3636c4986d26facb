"""Retry with edited params (runbook: "Invalid parameters: fix params, retry with new job").

The new job runs with the edited params and keeps retriedFrom; the old job and its
params stay as they were; the audit entry records both params, what changed and why.
Every door performs the one catalog action, dlq.retry_edited.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from jobs.models import AuditEntry, DLQEntry, Job
from jobs.services.lifecycle import job_force_fail
from jobs.services.submission import default_job_key, job_submit
from tests.support.api import last_audit
from tests.support.console import login
from tests.test_commands import jobs_cmd, state  # noqa: F401 (the fixture: `jobs` as a shell runs it)

pytestmark = pytest.mark.django_db

OLD_PARAMS = {"customer": {"id": "C-17x", "region": "eu"}, "amount": 12}
NEW_PARAMS = {"customer": {"id": "C-17", "region": "eu"}, "amount": 12, "notify": True}


@pytest.fixture
def dead(cli) -> Job:
    job, _ = job_submit(actor=cli, entrypoint="demo.noop", params=OLD_PARAMS)
    job_force_fail(actor=cli, job_id=job.id, reason="customer C-17x does not exist")
    assert DLQEntry.objects.filter(job=job).exists()
    return job


def test_it_retries_with_edited_params_and_audits_the_diff(api, dead):
    response = api("operator").post(
        f"/api/dlq/{dead.id}/retry-edited", {"params": NEW_PARAMS, "reason": "customer id was mistyped"}
    )

    assert response.status_code == 201, response.json()
    new = Job.objects.get(id=response.json()["job"]["id"])
    assert (new.params, new.retried_from_id, new.status) == (NEW_PARAMS, dead.id, "queued")
    assert new.job_key == default_job_key("demo.noop", NEW_PARAMS)
    dead.refresh_from_db()
    assert dead.params == OLD_PARAMS and not DLQEntry.objects.filter(job=dead).exists()
    entry = last_audit("dlq.retry_edited")
    assert (entry.actor, entry.reason, entry.object_ids) == (
        "operator",
        "customer id was mistyped",
        [str(dead.id), str(new.id)],
    )
    assert entry.before["params"] == OLD_PARAMS and entry.after["params"] == NEW_PARAMS
    assert entry.after["changed"] == {"customer.id": ["C-17x", "C-17"], "notify": [None, True]}


def test_a_job_key_the_submitter_chose_is_kept(api, cli):
    job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"a": 1}, job_key="nightly-report")
    job_force_fail(actor=cli, job_id=job.id, reason="bad a")

    response = api("operator").post(f"/api/dlq/{job.id}/retry-edited", {"params": {"a": 2}, "reason": "a=2"})

    assert response.json()["job"]["jobKey"] == "nightly-report"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"params": NEW_PARAMS}, "reason"),
        ({"params": NEW_PARAMS, "reason": "  "}, "reason"),
        ({"params": [1, 2], "reason": "x"}, "params"),
        ({"params": "not json", "reason": "x"}, "params"),
        ({"reason": "x"}, "params"),
        ({"params": {"a": "\u0000"}, "reason": "x"}, "NUL"),
        ({"params": NEW_PARAMS, "reason": "x", "priority": "high"}, "priority"),
    ],
)
def test_it_refuses_bad_input_and_changes_nothing(api, dead, body, says):
    operator = api("operator")  # its token is made first: it is not part of what must not change
    before = state()

    response = operator.post(f"/api/dlq/{dead.id}/retry-edited", body)

    assert response.status_code == 400
    assert says in json.dumps(response.json())
    assert state() == before


def test_a_viewer_may_not_and_nothing_changes(api, dead):
    viewer = api("viewer")
    before = state()

    response = viewer.post(f"/api/dlq/{dead.id}/retry-edited", {"params": NEW_PARAMS, "reason": "x"})

    assert response.status_code == 403
    assert state() == before
    assert AuditEntry.objects.filter(action="dlq.retry_edited", outcome="denied").count() == 1


def test_an_entry_no_longer_in_the_dlq_is_404(api, dead):
    assert api("operator").post(f"/api/dlq/{dead.id}/retry").status_code == 201

    response = api("operator").post(f"/api/dlq/{dead.id}/retry-edited", {"params": NEW_PARAMS, "reason": "x"})

    assert response.status_code == 404


def test_the_console_form_shows_the_params_and_keeps_what_was_typed_on_an_error(client, users, dead):
    operator = login(client, users["operator"])
    url = reverse("jobs:dlq-retry-edited", args=[dead.id])

    form = operator.get(url)
    assert form.status_code == 200 and "C-17x" in form.text and "customer C-17x does not exist" in form.text

    bad = operator.post(url, {"params": '{"customer": ', "reason": "fixing the id"})
    assert bad.status_code == 400
    assert "params: must be a JSON object" in bad.text and "fixing the id" in bad.text
    assert DLQEntry.objects.filter(job=dead).exists()

    good = operator.post(url, {"params": json.dumps(NEW_PARAMS), "reason": "fixing the id"})
    new = Job.objects.get(retried_from=dead)
    assert good.status_code == 302 and good.url == reverse("jobs:job-detail", args=[new.id])
    assert new.params == NEW_PARAMS
    assert last_audit("dlq.retry_edited").source == "web"


def test_the_job_page_offers_it_for_an_entry_in_the_dlq(client, users, dead):
    page = login(client, users["operator"]).get(reverse("jobs:job-detail", args=[dead.id]))

    assert reverse("jobs:dlq-retry-edited", args=[dead.id]) in page.text


def test_the_cli_retries_with_edited_params(jobs_cmd, dead):  # noqa: F811 (the fixture imported above)
    result = jobs_cmd(
        "dlq", "retry-edited", str(dead.id), "--params", json.dumps(NEW_PARAMS), "--reason", "id fixed", "--json"
    )

    assert result.code == 0, result.err
    assert Job.objects.get(id=result.json()["job"]["id"]).params == NEW_PARAMS
    assert last_audit("dlq.retry_edited").source == "cli"


def test_the_form_is_for_roles_that_retry_and_answers_405_to_other_methods(client, users, dead):
    url = reverse("jobs:dlq-retry-edited", args=[dead.id])

    assert login(client, users["viewer"]).get(url).status_code == 403
    assert login(client, users["operator"]).put(url).status_code == 405
