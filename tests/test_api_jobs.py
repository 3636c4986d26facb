"""The jobs endpoints: submit, list, show, cancel, force-fail, approvals, JSONL export and import."""

from __future__ import annotations

import json
import uuid

import pytest

from jobs.models import AuditEntry, Job, Status
from jobs.services.config import config_update
from jobs.services.jsonl import imported_id
from jobs.services.submission import job_submit
from tests.support.api import jobs_in_every_state, last_audit

pytestmark = pytest.mark.django_db


def submit(cli, **fields):
    fields.setdefault("entrypoint", "demo.noop")
    job, _ = job_submit(actor=cli, **fields)
    return job


# Submit


def test_it_submits_a_job_and_answers_201_with_the_job(api):
    response = api("operator").post(
        "/api/jobs",
        {"entrypoint": "demo.sleep", "params": {"seconds": 1}, "priority": "high", "maxAttempts": 2},
    )

    assert response.status_code == 201
    job = response.json()
    fields = (job["entrypoint"], job["priority"], job["status"], job["maxAttempts"])
    assert fields == ("demo.sleep", "high", "queued", 2)
    assert job["submittedBy"] == "operator"
    entry = last_audit("job.submit")
    assert (entry.actor, entry.source, entry.object_ids) == ("operator", "api", [job["id"]])


def test_it_answers_200_with_the_active_job_of_the_same_job_key(api):
    first = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "jobKey": "nightly"})
    again = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "jobKey": "nightly"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize("issue", ["42", 42, "#42"])
def test_it_waits_for_approval_when_an_issue_is_named(api, issue):
    response = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "issueId": issue})

    assert response.status_code == 201
    assert response.json()["status"] == "waiting_approval"
    assert response.json()["issueId"] == str(issue)
    assert response.json()["approvalExpiresAt"]


@pytest.mark.parametrize("issue", [0, -3, True, 4.5, ["42"]])
def test_it_refuses_an_issue_id_that_names_no_issue(api, issue):
    response = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "issueId": issue})

    assert response.status_code == 400
    assert response.json()["error"].startswith("issueId")
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "entrypoint"),
        ({"entrypoint": "no.such"}, "entrypoint"),
        ({"entrypoint": "demo.noop", "priority": "urgent"}, "priority"),
        ({"entrypoint": "demo.noop", "maxAttempts": 0}, "maxAttempts"),
        ({"entrypoint": "demo.noop", "maxAttempts": "3"}, "maxAttempts"),
        ({"entrypoint": "demo.noop", "maxAttempts": 10**40}, "maxAttempts"),
        ({"entrypoint": "demo.noop", "params": [1]}, "params"),
        ({"entrypoint": "demo.noop", "colour": "red"}, "colour"),
        ({"entrypoint": "demo.noop", "jobKey": ""}, "jobKey"),
    ],
)
def test_it_refuses_a_bad_submission_naming_the_field(api, body, field):
    response = api("operator").post("/api/jobs", body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(field)
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    ["{", "null", "[]", '"text"', '{"entrypoint": NaN}', '{"entrypoint": "demo.noop", "params": {"a": "\\u0000"}}'],
)
def test_it_answers_400_to_a_body_it_cannot_use(api, raw):
    response = api("operator").post("/api/jobs", raw=raw)

    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail"}
    assert Job.objects.count() == 0


def test_it_answers_429_with_retry_after_under_backpressure(api, cli):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 2, "backpressureThreshold": 50}})
    submit(cli, params={"n": 1})

    response = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "params": {"n": 2}})

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "Backpressure" in response.json()["error"]
    assert Job.objects.count() == 1


def test_it_refuses_submission_to_a_viewer(api):
    assert api("viewer").post("/api/jobs", {"entrypoint": "demo.noop"}).status_code == 403
    assert last_audit("job.submit").outcome == "denied"


# List and show


def test_it_lists_jobs_newest_first_a_page_at_a_time(api, cli):
    ids = [str(submit(cli, params={"n": n}).id) for n in range(5)]

    first = api("viewer").get("/api/jobs", limit=2).json()
    second = api("viewer").get("/api/jobs", limit=2, cursor=first["nextCursor"]).json()
    third = api("viewer").get("/api/jobs", limit=2, cursor=second["nextCursor"]).json()

    seen = [job["id"] for page in (first, second, third) for job in page["items"]]
    assert seen == list(reversed(ids))
    assert third["nextCursor"] is None


def test_it_filters_jobs_by_status_priority_and_entrypoint(api, cli):
    low = submit(cli, priority="low", params={"n": 1})
    submit(cli, entrypoint="demo.fail", params={"n": 2})

    by_priority = api("viewer").get("/api/jobs", priority="low").json()["items"]
    by_entrypoint = api("viewer").get("/api/jobs", entrypoint="demo.fail").json()["items"]
    by_status = api("viewer").get("/api/jobs", status="succeeded").json()["items"]

    assert [job["id"] for job in by_priority] == [str(low.id)]
    assert [job["entrypoint"] for job in by_entrypoint] == ["demo.fail"]
    assert by_status == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10**12}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "done"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyIyMDIwLTAxLTAxVDAwOjAwOjAwWiIsIm5vIl0"}, "cursor"),  # a forged one: ["2020-…", "no"]
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_it_refuses_bad_list_parameters_with_400(api, params, field):
    response = api("viewer").get("/api/jobs", **params)

    assert response.status_code == 400
    assert response.json()["error"].startswith(field)


def test_it_shows_one_job_with_its_events(api, cli):
    job = submit(cli)

    response = api("viewer").get(f"/api/jobs/{job.id}")

    assert response.status_code == 200
    assert response.json()["id"] == str(job.id)
    assert [event["type"] for event in response.json()["events"]] == ["job:submitted"]


def test_it_answers_404_for_an_unknown_job_and_400_for_a_malformed_id(api):
    assert api("viewer").get(f"/api/jobs/{uuid.uuid4()}").status_code == 404
    malformed = api("viewer").get("/api/jobs/12345")
    assert malformed.status_code == 400
    assert malformed.json()["error"].startswith("id")


# Cancel and force-fail


def test_it_cancels_a_job_with_its_reason_and_records_it(api, cli):
    job = submit(cli)

    response = api("operator").post(f"/api/jobs/{job.id}/cancel", {"reason": "not needed"})

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["statusReason"]) == ("canceled", "not needed")
    entry = last_audit("job.cancel")
    assert (entry.actor, entry.source, entry.reason, entry.outcome) == ("operator", "api", "not needed", "ok")


def test_it_answers_409_when_canceling_a_job_that_already_ended(api, cli):
    job = submit(cli)
    api("operator").post(f"/api/jobs/{job.id}/cancel", {"reason": "once"})

    response = api("operator").post(f"/api/jobs/{job.id}/cancel", {"reason": "twice"})

    assert response.status_code == 409
    assert "already canceled" in response.json()["error"]


def test_it_refuses_cancel_without_a_reason_or_for_a_viewer(api, cli):
    job = submit(cli)

    assert api("operator").post(f"/api/jobs/{job.id}/cancel", {}).json()["error"] == "reason: required"
    assert api("operator").post(f"/api/jobs/{job.id}/cancel", {"reason": ""}).status_code == 400
    assert api("viewer").post(f"/api/jobs/{job.id}/cancel", {"reason": "x"}).status_code == 403
    assert api("operator").post(f"/api/jobs/{uuid.uuid4()}/cancel", {"reason": "x"}).status_code == 404
    job.refresh_from_db()
    assert job.status == Status.QUEUED
    assert last_audit("job.cancel").outcome == "denied"


def test_it_force_fails_a_job_for_an_admin_only(api, cli):
    job = submit(cli)

    refused = api("operator").post(f"/api/jobs/{job.id}/fail", {"reason": "stuck"})
    assert refused.status_code == 403
    assert last_audit("job.force_fail").outcome == "denied"

    response = api("admin").post(f"/api/jobs/{job.id}/fail", {"reason": "stuck"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["lastError"]) == ("failed", "stuck")
    assert last_audit("job.force_fail").outcome == "ok"


# Approvals


def test_it_lets_an_approver_approve_a_waiting_job(api):
    job = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "issueId": "7"}).json()

    response = api("approver").post(f"/api/jobs/{job['id']}/approve")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["approvedBy"]) == ("queued", "approver")
    assert last_audit("job.approve").actor == "approver"


def test_it_refuses_an_approver_their_own_job(api, users):
    job = api("admin").post("/api/jobs", {"entrypoint": "demo.noop", "issueId": "7"}).json()

    response = api("admin").post(f"/api/jobs/{job['id']}/approve", {"reason": "mine"})

    assert response.status_code == 403
    assert last_audit("job.approve").outcome == "denied"
    assert Job.objects.get(id=job["id"]).status == Status.WAITING_APPROVAL


def test_it_refuses_approval_to_an_operator(api):
    job = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "issueId": "7"}).json()

    assert api("operator").post(f"/api/jobs/{job['id']}/approve").status_code == 403
    assert api("operator").post(f"/api/jobs/{job['id']}/reject", {"reason": "no"}).status_code == 403


def test_it_rejects_a_waiting_job_with_a_reason(api):
    job = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "issueId": "7"}).json()

    response = api("approver").post(f"/api/jobs/{job['id']}/reject", {"reason": "too risky"})

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert last_audit("job.reject").reason == "too risky"


def test_it_answers_409_when_approving_a_job_that_is_not_waiting(api, cli):
    job = submit(cli)

    assert api("approver").post(f"/api/jobs/{job.id}/approve").status_code == 409


def test_it_force_checks_an_approval(api, fake_github):
    job = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "issueId": "7"}).json()

    response = api("operator").post(f"/api/jobs/{job['id']}/check-approval")

    assert response.status_code == 200
    body = response.json()
    assert (body["approved"], body["expired"]) == (False, False)
    assert 23 < body["expiresInHours"] <= 24
    assert api("viewer").post(f"/api/jobs/{job['id']}/check-approval").status_code == 403
    assert last_audit("approval.check").outcome == "denied"


# JSONL export and import


def test_it_exports_every_job_as_jsonl(api, cli):
    made = jobs_in_every_state(cli)

    response = api("viewer").get("/api/jobs/export.jsonl")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert {row["id"] for row in rows} == {str(job.id) for job in made.values()}
    assert next(row for row in rows if row["id"] == str(made["failed"].id))["retriedFrom"] is None


def test_it_imports_jobs_from_a_jsonl_body_for_an_admin(api):
    text = "\n".join(
        json.dumps({"id": f"j{n}", "entrypoint": "demo.noop", "status": "succeeded", "createdAt": "2025-01-01T00:00Z"})
        for n in range(3)
    )

    response = api("admin").post("/api/jobs/import", raw=text, content_type="application/x-ndjson")
    again = api("admin").post("/api/jobs/import", raw=text, content_type="application/x-ndjson")

    assert response.json() == {"imported": 3, "interrupted": 0, "duplicates": 0, "skipped": []}
    assert again.json() == {"imported": 0, "interrupted": 0, "duplicates": 3, "skipped": []}
    assert Job.objects.filter(id=imported_id("j1")).exists()
    assert last_audit("jobs.import").source == "api"


def test_it_refuses_an_import_with_a_broken_line_naming_it(api):
    good = json.dumps({"id": "a", "entrypoint": "demo.noop", "status": "queued", "createdAt": "2025-01-01T00:00Z"})

    response = api("admin").post("/api/jobs/import", raw=f"{good}\n{{oops\n", content_type="application/x-ndjson")

    assert response.status_code == 400
    assert response.json()["detail"]["lines"][0]["line"] == 2
    assert Job.objects.count() == 0


def test_it_skips_bad_lines_when_asked(api):
    good = json.dumps({"id": "a", "entrypoint": "demo.noop", "status": "queued", "createdAt": "2025-01-01T00:00Z"})

    response = api("admin").post(
        "/api/jobs/import?skipBadLines=true", raw=f"{good}\n{{oops\n", content_type="application/x-ndjson"
    )

    assert response.status_code == 200
    assert response.json()["imported"] == 1
    assert [item["line"] for item in response.json()["skipped"]] == [2]


def test_it_refuses_import_to_an_operator_and_records_it(api):
    good = json.dumps({"id": "a", "entrypoint": "demo.noop", "status": "queued", "createdAt": "2025-01-01T00:00Z"})

    response = api("operator").post("/api/jobs/import", raw=good, content_type="application/x-ndjson")

    assert response.status_code == 403
    assert Job.objects.count() == 0
    assert AuditEntry.objects.filter(action="jobs.import", outcome="denied", actor="operator").exists()


def test_it_refuses_an_import_body_that_is_not_utf8(api):
    response = api("admin").post("/api/jobs/import", raw=b"\xff\xfe{}", content_type="application/x-ndjson")

    assert response.status_code == 400
    assert response.json()["error"].startswith("body")


def test_it_refuses_a_query_parameter_given_twice(api):
    response = api("viewer").client.get("/api/jobs?limit=1&limit=500")

    assert response.status_code == 400
    assert response.json()["error"] == "limit: given more than once"
