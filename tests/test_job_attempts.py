"""Every attempt of a job is kept: start, end, worker, outcome, error and its full traceback.

Shown on the job's page and as ``attemptHistory`` on GET /api/jobs/{id} and `jobs show`
(``attempts`` stays the count the contract names).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.models import Status
from jobs.services.config import config_update
from jobs.services.lifecycle import job_cancel
from jobs.services.submission import job_submit
from tests.support.console import login
from tests.test_commands import jobs_cmd  # noqa: F401 (the fixture: `jobs` as a shell runs it)

pytestmark = pytest.mark.django_db


def run_next(job_id, worker: str) -> str:
    """Admit and execute the next job in this process, as a worker named ``worker`` would."""
    job = job_claim_next(worker=worker)
    assert job is not None and job.id == job_id
    return job_execute(job, worker=worker)


@pytest.fixture
def flaky_job(cli):
    """A job that failed twice (on two workers) and then succeeded on a third."""
    config_update(actor=cli, changes={"worker": {"retryDelayMs": 0}})
    job, _ = job_submit(actor=cli, entrypoint="demo.flaky", params={"failTimes": 2}, max_attempts=3)
    assert [run_next(job.id, worker) for worker in ("w-a", "w-b", "w-c")] == [
        Status.QUEUED,
        Status.QUEUED,
        Status.SUCCEEDED,
    ]
    return job


def test_the_api_gives_every_attempt_with_its_worker_outcome_and_traceback(api, flaky_job):
    body = api("viewer").get(f"/api/jobs/{flaky_job.id}").json()

    history = body["attemptHistory"]
    assert body["attempts"] == 3
    assert [(a["attempt"], a["worker"], a["outcome"]) for a in history] == [
        (1, "w-a", "retrying"),
        (2, "w-b", "retrying"),
        (3, "w-c", "succeeded"),
    ]
    first, second, last = history
    assert first["error"] == "RuntimeError: flaky failure on attempt 1 of the first 2"
    assert first["exception"] == "builtins.RuntimeError"
    assert "Traceback (most recent call last)" in first["traceback"] and "attempt 1" in first["traceback"]
    assert "attempt 2" in second["traceback"]
    assert (last["error"], last["traceback"]) == (None, None)
    assert all(a["startedAt"] <= a["endedAt"] for a in history)


def test_a_running_attempt_has_no_end_and_a_cancel_ends_it(api, cli):
    job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 60})
    assert job_claim_next(worker="w-a").id == job.id

    running = api("viewer").get(f"/api/jobs/{job.id}").json()["attemptHistory"]
    job_cancel(actor=cli, job_id=job.id, reason="wrong customer")
    canceled = api("viewer").get(f"/api/jobs/{job.id}").json()["attemptHistory"]

    assert [(a["outcome"], a["endedAt"]) for a in running] == [("running", None)]
    assert [(a["outcome"], a["error"]) for a in canceled] == [("canceled", "wrong customer")]
    assert canceled[0]["endedAt"] is not None


def test_a_job_canceled_before_it_ran_has_no_attempt(api, cli):
    job, _ = job_submit(actor=cli, entrypoint="demo.noop")
    job_cancel(actor=cli, job_id=job.id, reason="not needed")

    assert api("viewer").get(f"/api/jobs/{job.id}").json()["attemptHistory"] == []


def test_the_job_page_shows_each_attempt_with_its_own_traceback(client, users, flaky_job):
    page = login(client, users["viewer"]).get(reverse("jobs:job-detail", args=[flaky_job.id]))

    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("Traceback (builtins.RuntimeError)") == 2
    assert "flaky failure on attempt 1" in html and "flaky failure on attempt 2" in html
    for worker in ("w-a", "w-b", "w-c"):
        assert worker in html


def test_jobs_show_prints_the_attempts(jobs_cmd, flaky_job):  # noqa: F811 (the fixture imported above)
    result = jobs_cmd("show", str(flaky_job.id))

    assert result.code == 0, result.err
    assert [a["outcome"] for a in result.json()["attemptHistory"]] == ["retrying", "retrying", "succeeded"]
