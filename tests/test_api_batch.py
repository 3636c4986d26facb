"""POST /api/jobs/batch and job_submit_many: many jobs in one transaction, one answer per item."""

from __future__ import annotations

import pytest

from jobs.models import AuditEntry, Event, Job, Status
from jobs.services.config import config_update
from jobs.services.submission import job_submit, job_submit_many

pytestmark = pytest.mark.django_db


def test_it_submits_a_batch_and_answers_one_item_per_job_in_order(api):
    body = {"jobs": [{"entrypoint": "demo.noop", "params": {"n": n}} for n in range(5)]}
    body["jobs"].append({"entrypoint": "demo.sleep", "params": {"seconds": 1}, "priority": "high", "maxAttempts": 2})

    response = api("operator").post("/api/jobs/batch", body)

    assert response.status_code == 201
    items = response.json()["items"]
    assert [item["created"] for item in items] == [True] * 6
    assert [item["job"]["params"] for item in items[:5]] == [{"n": n} for n in range(5)]
    assert items[5]["job"]["priority"] == "high" and items[5]["job"]["maxAttempts"] == 2
    assert {item["job"]["submittedBy"] for item in items} == {"operator"}
    assert Job.objects.queued().count() == 6
    assert Event.objects.filter(type="job:submitted").count() == 6
    (entry,) = AuditEntry.objects.filter(action="job.submit_batch")
    assert sorted(entry.object_ids) == sorted(item["job"]["id"] for item in items)


def test_it_answers_an_error_for_each_bad_item_and_submits_the_others(api):
    body = {
        "jobs": [
            {"entrypoint": "demo.noop", "params": {"n": 1}},
            {"entrypoint": "no.such.thing"},
            {"entrypoint": "demo.noop", "maxAttempt": 3},
            "not an object",
            {"entrypoint": "demo.noop", "params": {"n": 2}},
        ]
    }
    response = api("operator").post("/api/jobs/batch", body)

    assert response.status_code == 201
    items = response.json()["items"]
    assert [("job" in item, "error" in item) for item in items] == [
        (True, False),
        (False, True),
        (False, True),
        (False, True),
        (True, False),
    ]
    assert "unknown entry point" in items[1]["error"]["error"]
    assert items[2]["error"]["error"] == "maxAttempt: unknown field"
    assert Job.objects.count() == 2


def test_it_keeps_job_key_idempotency_per_item_and_between_items(api, cli):
    existing, _ = job_submit(actor=cli, entrypoint="demo.noop", job_key="nightly")
    body = {
        "jobs": [
            {"entrypoint": "demo.noop", "jobKey": "nightly"},
            {"entrypoint": "demo.noop", "jobKey": "weekly"},
            {"entrypoint": "demo.noop", "jobKey": "weekly"},
        ]
    }
    items = api("operator").post("/api/jobs/batch", body).json()["items"]

    assert items[0] == {"job": items[0]["job"], "created": False}
    assert items[0]["job"]["id"] == str(existing.id)
    assert items[1]["created"] is True and items[2]["created"] is False
    assert items[1]["job"]["id"] == items[2]["job"]["id"]
    assert Job.objects.count() == 2


def test_it_refuses_the_whole_batch_under_backpressure_and_stores_nothing(api, cli):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 10, "backpressureThreshold": 80}})
    body = {"jobs": [{"entrypoint": "demo.noop", "params": {"n": n}} for n in range(9)]}

    response = api("operator").post("/api/jobs/batch", body)

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert "8 of the batch's 9" in response.json()["error"]
    assert not Job.objects.exists()
    assert not AuditEntry.objects.filter(action="job.submit_batch").exists()

    # Eight fit: the threshold is reached, not passed.
    body["jobs"] = body["jobs"][:8]
    assert api("operator").post("/api/jobs/batch", body).status_code == 201
    assert api("operator").post("/api/jobs/batch", {"jobs": [{"entrypoint": "demo.noop"}]}).status_code == 429


def test_it_refuses_empty_and_oversized_batches_and_viewers(api):
    assert api("operator").post("/api/jobs/batch", {"jobs": []}).status_code == 400
    too_many = {"jobs": [{"entrypoint": "demo.noop", "params": {"n": n}} for n in range(1001)]}
    assert api("operator").post("/api/jobs/batch", too_many).status_code == 400
    response = api("viewer").post("/api/jobs/batch", {"jobs": [{"entrypoint": "demo.noop"}]})
    assert response.status_code == 403
    assert AuditEntry.objects.filter(action="job.submit_batch", outcome="denied").count() == 1
    assert not Job.objects.exists()


def test_the_service_waits_for_approval_when_an_item_names_an_issue(cli):
    results = job_submit_many(
        actor=cli,
        submissions=[{"entrypoint": "demo.noop", "issue_id": "7"}, {"entrypoint": "demo.noop", "params": {"n": 2}}],
    )
    assert [result["job"].status for result in results] == [Status.WAITING_APPROVAL, Status.QUEUED]
    assert Event.objects.filter(type="job:waiting_approval").count() == 1
