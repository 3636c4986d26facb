"""Pausing one entry point or one priority, beside the global switch.

Paused work stays queued, counts for backpressure, is marked paused on the pages,
and starts in its order once resumed; everything else keeps running.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs.engine.admission import job_claim_next
from jobs.models import Event, Job, Pause, Status
from jobs.selectors import queue_stats
from jobs.services.config import config_get
from jobs.services.pauses import pause_lift, pause_set
from jobs.services.submission import job_submit
from tests.support.api import last_audit
from tests.support.console import login
from tests.support.processes import wait_for
from tests.test_commands import jobs_cmd  # noqa: F401 (the fixture: `jobs` as a shell runs it)

pytestmark = pytest.mark.django_db


def submit(cli, entrypoint: str = "demo.noop", *, params: dict | None = None, **fields) -> Job:
    """A new job each time (its own params, so no jobKey is shared)."""
    job, _ = job_submit(actor=cli, entrypoint=entrypoint, params={**(params or {}), "n": uuid.uuid4().hex}, **fields)
    return job


def test_admission_skips_a_paused_entry_point_and_takes_it_again_once_resumed(cli):
    held = submit(cli, "demo.sleep", params={"seconds": 0})
    other = submit(cli, "demo.noop")
    pause_set(actor=cli, entrypoint="demo.sleep", reason="the upstream it calls is down")

    assert job_claim_next(worker="w-test").id == other.id
    assert job_claim_next(worker="w-test") is None, "the paused job is not admitted"
    assert Job.objects.get(id=held.id).status == Status.QUEUED

    assert pause_lift(actor=cli, entrypoint="demo.sleep", reason="upstream is back") == 1
    assert job_claim_next(worker="w-test").id == held.id


def test_a_paused_priority_waits_while_the_others_run(cli):
    low = submit(cli, priority="low")
    normal = submit(cli, priority="normal")
    pause_set(actor=cli, priority="low", reason="make room for the nightly batch")

    assert job_claim_next(worker="w-test").id == normal.id
    assert job_claim_next(worker="w-test") is None
    assert list(Job.objects.due().values_list("id", flat=True)) == [], "due() leaves paused jobs out too"

    pause_lift(actor=cli, priority="low", reason="batch done")
    assert job_claim_next(worker="w-test").id == low.id


def test_paused_jobs_still_count_for_backpressure(cli):
    for _ in range(3):
        submit(cli, "demo.sleep", params={"seconds": 0})
    pause_set(actor=cli, entrypoint="demo.sleep", reason="hold")

    assert queue_stats(config_get())["queued"] == 3


def test_pause_and_resume_are_audited_and_in_the_event_feed(cli):
    submit(cli, "demo.sleep", params={"seconds": 0})
    pause_set(actor=cli, entrypoint="demo.sleep", reason="hold")
    pause_lift(actor=cli, entrypoint="demo.sleep", reason="go")

    paused, resumed = last_audit("queue.pause"), last_audit("queue.resume")
    assert (paused.reason, paused.object_ids, paused.after["queued"]) == ("hold", ["demo.sleep"], 1)
    assert (resumed.reason, resumed.after["queued"]) == ("go", 1)
    assert list(Event.objects.filter(type__startswith="queue:").values_list("type", flat=True).order_by("id")) == [
        "queue:paused",
        "queue:resumed",
    ]


def test_the_api_pauses_and_resumes_with_clear_refusals(api, cli):
    submit(cli, "demo.sleep", params={"seconds": 0})
    operator = api("operator")

    paused = operator.post("/api/queue/pause", {"entrypoint": "demo.sleep", "reason": "upstream down"})
    again = operator.post("/api/queue/pause", {"entrypoint": "demo.sleep", "reason": "upstream down"})
    listed = operator.get("/api/queue/pauses")
    resumed = operator.post("/api/queue/resume", {"entrypoint": "demo.sleep", "reason": "upstream back"})
    not_paused = operator.post("/api/queue/resume", {"entrypoint": "demo.sleep", "reason": "again"})

    assert paused.status_code == 201 and paused.json()["paused"]["queued"] == 1
    assert again.status_code == 409 and "already paused by operator" in again.json()["error"]
    assert [item["what"] for item in listed.json()["items"]] == ["demo.sleep"]
    assert resumed.status_code == 200 and resumed.json() == {"resumed": "demo.sleep", "queued": 1}
    assert not_paused.status_code == 404
    assert not Pause.objects.exists()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"reason": "x"}, "name one entry point, or one priority"),
        ({"entrypoint": "demo.noop", "priority": "low", "reason": "x"}, "name one entry point, or one priority"),
        ({"entrypoint": "no.such.thing", "reason": "x"}, "no entry point or job named"),
        ({"priority": "urgent", "reason": "x"}, "priority"),
        ({"entrypoint": "demo.noop", "reason": " "}, "reason: required"),
    ],
)
def test_it_refuses_a_pause_that_names_nothing_or_two_things(api, body, says):
    operator = api("operator")

    response = operator.post("/api/queue/pause", body)

    assert response.status_code == 400 and says in response.json()["error"], response.json()
    assert not Pause.objects.exists()


def test_a_viewer_may_not_pause(api):
    assert api("viewer").post("/api/queue/pause", {"entrypoint": "demo.noop", "reason": "x"}).status_code == 403
    assert not Pause.objects.exists()


def test_the_pages_show_what_is_paused(client, users, cli):
    job = submit(cli, "demo.sleep", params={"seconds": 0})
    submit(cli, "demo.noop")
    pause_set(actor=cli, entrypoint="demo.sleep", reason="upstream down")
    operator = login(client, users["operator"])

    backpressure = operator.get(reverse("jobs:backpressure")).text
    dashboard = operator.get(reverse("jobs:dashboard")).text
    job_list = operator.get(reverse("jobs:job-list")).text
    job_page = operator.get(reverse("jobs:job-detail", args=[job.id])).text

    assert 'data-paused="demo.sleep"' in backpressure and "upstream down" in backpressure
    assert "Reason to resume demo.sleep" in backpressure
    assert "<strong>Paused:</strong> demo.sleep." in dashboard
    assert job_list.count(">paused</span>") == 1, "only the demo.sleep job is marked"
    assert ">paused</span>" in job_page


def test_every_pause_and_what_it_holds_back_is_read_in_one_query(api, cli):
    for entrypoint, count in (("demo.sleep", 3), ("demo.noop", 2)):
        for _ in range(count):
            submit(cli, entrypoint)
    submit(cli, "demo.fail", priority="low")
    pause_set(actor=cli, entrypoint="demo.sleep", reason="upstream down")
    viewer = api("viewer")
    viewer.get("/api/queue/pauses")  # the token's first use is recorded once

    with CaptureQueriesContext(connection) as one:
        viewer.get("/api/queue/pauses")
    pause_set(actor=cli, entrypoint="demo.noop", reason="deploy")
    pause_set(actor=cli, priority="low", reason="quiet hours")
    with CaptureQueriesContext(connection) as three:
        listed = viewer.get("/api/queue/pauses").json()["items"]

    assert [(pause["what"], pause["queued"]) for pause in listed] == [
        ("demo.sleep", 3),
        ("demo.noop", 2),
        ("low priority", 1),
    ]
    assert len(three.captured_queries) == len(one.captured_queries), [q["sql"][:90] for q in three.captured_queries]


def test_the_console_pause_form_pauses_a_priority(client, users):
    operator = login(client, users["operator"])

    response = operator.post(
        reverse("jobs:queue-pause"), {"entrypoint": "", "priority": "low", "reason": "nightly batch"}, follow=True
    )

    assert "Paused low priority" in response.text
    assert Pause.objects.get().what == "low priority"


def test_the_cli_pauses_lists_and_resumes(jobs_cmd, cli):  # noqa: F811 (the fixture imported above)
    submit(cli, "demo.sleep", params={"seconds": 0})

    paused = jobs_cmd("pause", "--entrypoint", "demo.sleep", "--reason", "hold")
    listed = jobs_cmd("paused")
    resumed = jobs_cmd("resume", "--entrypoint", "demo.sleep", "--reason", "go")

    assert paused.code == 0 and "paused demo.sleep: 1 queued job wait" in paused.out
    assert [item["what"] for item in listed.json()] == ["demo.sleep"]
    assert resumed.code == 0 and not Pause.objects.exists()


@pytest.mark.workers
@pytest.mark.django_db(transaction=True)
def test_real_workers_run_everything_else_and_the_paused_work_after_resume(workers, cli):
    pause_set(actor=cli, entrypoint="demo.sleep", reason="hold")
    held = [submit(cli, "demo.sleep", params={"seconds": 0}) for _ in range(3)]
    others = [submit(cli, "demo.noop") for _ in range(3)]
    workers(1)

    wait_for(
        lambda: Job.objects.filter(id__in=[j.id for j in others], status=Status.SUCCEEDED).count() == 3,
        timeout=30,
        message="the jobs that are not paused ran",
    )
    assert Job.objects.filter(id__in=[j.id for j in held], status=Status.QUEUED).count() == 3

    pause_lift(actor=cli, entrypoint="demo.sleep", reason="go")
    wait_for(
        lambda: Job.objects.filter(id__in=[j.id for j in held], status=Status.SUCCEEDED).count() == 3,
        timeout=30,
        message="the paused jobs ran once resumed",
    )
