"""A jobKey is a promise that a repeat is the same work: other params under an active job's key are refused.

Answering with the old job would tell the caller its new params were taken when
they were not; every door that takes a jobKey (the API, a batch, the CLI) says 409.
"""

from __future__ import annotations

from jobs.models import AuditEntry, Job, Status
from jobs.services.submission import job_submit
from tests.test_commands import jobs_cmd  # noqa: F401  (the fixture)


def test_it_answers_409_with_both_params_when_a_job_key_is_reused_for_other_params(api):
    first = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "params": {"day": 1}, "jobKey": "nightly"})
    other = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "params": {"day": 2}, "jobKey": "nightly"})

    assert (first.status_code, other.status_code) == (201, 409)
    body = other.json()
    assert body["error"].startswith(f"jobKey 'nightly' belongs to active job {first.json()['id']} (queued)")
    assert 'demo.noop {"day":1}' in body["error"] and 'demo.noop {"day":2}' in body["error"]
    assert body["detail"] == {
        "jobKey": "nightly",
        "existingJob": first.json()["id"],
        "existingParams": {"day": 1},
        "params": {"day": 2},
    }
    assert Job.objects.count() == 1
    assert AuditEntry.objects.filter(action="job.submit").count() == 1


def test_it_still_answers_200_with_the_existing_job_for_the_same_params(api):
    first = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "params": {"b": 2, "a": 1}, "jobKey": "k"})
    again = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "params": {"a": 1, "b": 2}, "jobKey": "k"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


def test_it_names_the_entry_points_when_they_differ(api):
    api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "jobKey": "k"})
    other = api("operator").post("/api/jobs", {"entrypoint": "demo.sleep", "params": {"seconds": 1}, "jobKey": "k"})

    assert other.status_code == 409
    detail = other.json()["detail"]
    assert (detail["existingEntrypoint"], detail["entrypoint"]) == ("demo.noop", "demo.sleep")
    assert (detail["existingParams"], detail["params"]) == ({}, {"seconds": 1})


def test_it_takes_the_key_again_once_its_job_has_ended(api, cli):
    old, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"day": 1}, job_key="nightly")
    Job.objects.filter(id=old.id).update(status=Status.SUCCEEDED)

    again = api("operator").post("/api/jobs", {"entrypoint": "demo.noop", "params": {"day": 2}, "jobKey": "nightly"})
    assert again.status_code == 201 and again.json()["params"] == {"day": 2}


def test_it_refuses_only_the_batch_items_whose_key_holds_other_params(api, cli):
    existing, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"day": 1}, job_key="nightly")
    body = {
        "jobs": [
            {"entrypoint": "demo.noop", "params": {"day": 2}, "jobKey": "nightly"},  # the active job's key
            {"entrypoint": "demo.noop", "params": {"week": 1}, "jobKey": "weekly"},
            {"entrypoint": "demo.noop", "params": {"week": 2}, "jobKey": "weekly"},  # an earlier item's key
            {"entrypoint": "demo.noop", "params": {"day": 1}, "jobKey": "nightly"},  # the same work: that job
        ]
    }
    response = api("operator").post("/api/jobs/batch", body)

    assert response.status_code == 201
    items = response.json()["items"]
    assert items[0]["error"]["detail"] == {
        "jobKey": "nightly",
        "existingJob": str(existing.id),
        "existingParams": {"day": 1},
        "params": {"day": 2},
    }
    assert items[1]["created"] is True
    assert items[2]["error"]["detail"]["existingParams"] == {"week": 1}
    assert items[2]["error"]["detail"]["params"] == {"week": 2}
    assert items[3] == {"job": items[3]["job"], "created": False}
    assert items[3]["job"]["id"] == str(existing.id)
    assert Job.objects.count() == 2


def test_it_refuses_the_other_params_at_the_cli_too(jobs_cmd, cli):  # noqa: F811
    job_submit(actor=cli, entrypoint="demo.noop", params={"day": 1}, job_key="nightly")
    result = jobs_cmd("submit", "demo.noop", "--params", '{"day": 2}', "--job-key", "nightly")

    assert result.code == 1
    assert "jobKey 'nightly' belongs to active job" in result.err
    assert 'demo.noop {"day":1}' in result.err and 'demo.noop {"day":2}' in result.err
    assert Job.objects.count() == 1
