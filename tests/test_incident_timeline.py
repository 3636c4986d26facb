"""The incident timeline: a scripted incident in the order it happened, in the page, the API, the CLI, the exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.engine.reconciler import reconcile
from jobs.models import AuditEntry, Event
from jobs.selectors import timeline as timeline_selectors
from jobs.services.config import config_update
from jobs.services.health import health_record
from tests.support.console import live_worker, login
from tests.support.incident import BURST, script_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(users):
    """A burst of failures, a retry-all by an operator, an approval: the window around it, as strings."""
    done = script_incident(operator=users["operator"], approver=users["approver"])
    return {
        "since": done.since.isoformat(),
        "until": done.until.isoformat(),
        "failing": done.failing,
        "approved": done.approved,
    }


def timeline(api, **params) -> dict:
    answer = api("viewer").get("/api/incident", **params)
    assert answer.status_code == 200, answer.content
    return answer.json()


def first(items: list[dict], **match) -> int:
    return next(i for i, item in enumerate(items) if all(item.get(k) == v for k, v in match.items()))


def test_it_shows_a_scripted_incident_in_the_order_it_happened(api, incident):
    items = timeline(api, since=incident["since"], until=incident["until"], limit=500)["items"]

    assert items == sorted(items, key=lambda item: item["at"])
    healthy_before = first(items, kind="health", outcome="healthy")
    first_failure = first(items, what="job:failed")
    degraded = first(items, kind="health", outcome="degraded")
    retry_all = first(items, kind="action", what="dlq.retry_all")
    retried = first(items, what="job:retried_from_dlq")
    healthy_after = max(i for i, item in enumerate(items) if item["kind"] == "health")
    approval = first(items, kind="action", what="job.approve")
    approved = first(items, what="job:approved")
    assert healthy_before < first_failure < degraded < retried < retry_all < healthy_after < approved < approval

    assert items[degraded]["what"] == "health: healthy → degraded"
    assert items[degraded]["reason"] == f"DLQ has {BURST} entries"
    assert items[degraded]["detail"] == {"issues": ["dlq"]}
    assert items[healthy_after]["what"] == "health: degraded → healthy"
    # Who did it, why, to which jobs.
    assert (items[retry_all]["who"], items[retry_all]["reason"], items[retry_all]["outcome"]) == (
        "operator",
        "upstream fixed",
        "ok",
    )
    assert sorted(items[retry_all]["jobs"]) == sorted(str(job.id) for job in incident["failing"])
    assert items[approval]["who"] == "approver"
    assert items[approval]["jobs"] == [str(incident["approved"].id)]
    assert items[approved]["who"] == "approver"
    failed = items[first_failure]
    assert failed["reason"].startswith("RuntimeError") or failed["reason"]
    assert "traceback" not in failed["detail"]


def test_it_names_the_jobs_involved_with_their_status_now(api, incident):
    jobs = timeline(api, since=incident["since"], until=incident["until"])["jobs"]

    by_id = {job["id"]: job for job in jobs["items"]}
    # The burst, their retries and the approved job.
    assert jobs["total"] == 2 * BURST + 1 and jobs["complete"]
    old = by_id[str(incident["failing"][0].id)]
    assert (old["entrypoint"], old["status"], old["failures"]) == ("demo.fail", "failed", 2)  # failed, dlq
    assert old["events"] == 5  # submitted, started, failed, dlq, retried_from_dlq
    assert by_id[str(incident["approved"].id)]["status"] == "queued"


def test_it_pages_with_load_more_without_losing_or_repeating_a_row(api, incident):
    window = {"since": incident["since"], "until": incident["until"]}
    whole = [(i["kind"], i["id"]) for i in timeline(api, **window, limit=500)["items"]]
    paged, cursor = [], None
    while True:
        answer = timeline(api, **window, limit=7, **({"cursor": cursor} if cursor else {}))
        paged += [(i["kind"], i["id"]) for i in answer["items"]]
        assert answer["jobs"] is None or cursor is None
        cursor = answer["nextCursor"]
        if not cursor:
            break
    assert paged == whole and len(whole) > 7


def test_it_exports_the_same_rows_as_jsonl_and_csv(client, users, api, incident):
    login(client, users["viewer"])
    window = {"since": incident["since"], "until": incident["until"]}
    shown = timeline(api, **window, limit=500)["items"]

    jsonl = client.get("/incident/", {**window, "format": "jsonl"})
    assert jsonl.status_code == 200 and jsonl["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in jsonl["Content-Disposition"]
    exported = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert exported == shown

    csv_answer = client.get("/incident/", {**window, "format": "csv"})
    assert csv_answer["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_answer.streaming_content).decode())))
    assert [(r["kind"], int(r["id"]), r["what"], r["jobs"].split()) for r in rows] == [
        (i["kind"], i["id"], i["what"], i["jobs"]) for i in shown
    ]


def test_it_filters_by_kind_job_and_entrypoint(api, incident):
    window = {"since": incident["since"], "until": incident["until"], "limit": 500}
    actions = timeline(api, **window, kind="action")["items"]
    assert actions and {i["kind"] for i in actions} == {"action"}
    health = timeline(api, **window, kind="health")["items"]
    assert [i["outcome"] for i in health] == ["healthy", "degraded", "healthy"]

    job = incident["failing"][3]
    mine = timeline(api, **window, job=str(job.id))["items"]
    assert {i["kind"] for i in mine} == {"event", "action", "health"}
    assert all(str(job.id) in i["jobs"] for i in mine if i["kind"] != "health")
    assert [i["what"] for i in mine if i["kind"] == "event"] == [
        "job:submitted",
        "job:started",
        "job:failed",
        "job:dlq",
        "job:retried_from_dlq",
    ]
    assert {"job.submit", "dlq.retry_all"} <= {i["what"] for i in mine if i["kind"] == "action"}

    noop = timeline(api, **window, entrypoint="demo.noop", kind="action")["items"]
    assert [i["what"] for i in noop] == ["job.submit", "job.approve"]
    assert timeline(api, **window, entrypoint="demo.noop", kind="event")["jobs"]["total"] == 1


def test_an_entrypoints_rows_are_the_same_found_through_its_jobs_or_by_reading_the_window(api, incident, monkeypatch):
    """Few jobs: the trail is looked up by their ids (GIN); many: the window is read in order."""
    window = {"since": incident["since"], "until": incident["until"], "limit": 500}
    entrypoint = incident["failing"][0].entrypoint
    through_jobs = timeline(api, **window, entrypoint=entrypoint)["items"]
    monkeypatch.setattr(timeline_selectors, "FEW_JOBS", 0)
    reading_the_window = timeline(api, **window, entrypoint=entrypoint)["items"]

    assert through_jobs == reading_the_window
    assert through_jobs == sorted(through_jobs, key=lambda item: item["at"])
    kinds = {item["kind"] for item in through_jobs}
    assert kinds == {"event", "action", "health"}, "health changes stay beside an entry point's rows"
    assert "dlq.retry_all" in {item["what"] for item in through_jobs if item["kind"] == "action"}


def test_it_shows_the_page_to_a_viewer_with_links_to_the_jobs(client, users, incident):
    login(client, users["viewer"])
    answer = client.get("/incident/", {"since": incident["since"], "until": incident["until"], "limit": 500})
    assert answer.status_code == 200
    html = answer.content.decode()
    assert 'data-what="dlq.retry_all"' in html and 'data-kind="health"' in html
    assert f"/jobs/{incident['approved'].id}/" in html
    assert 'id="jobs-involved"' in html
    assert "format=jsonl" in html and "format=csv" in html
    assert ">Timeline</a>" in html


def test_it_answers_load_more_with_the_next_rows_only(client, users, incident):
    login(client, users["viewer"])
    window = {"since": incident["since"], "until": incident["until"], "limit": 5}
    html = client.get("/incident/", window).content.decode()
    cursor = html.split("cursor=")[1].split('"')[0].split("&")[0]
    more = client.get("/incident/", {**window, "cursor": cursor}, headers={"HX-Request": "true"})
    assert more.status_code == 200
    body = more.content.decode()
    assert body.count('class="timeline-row"') == 5 and "<h1>" not in body and 'id="jobs-involved"' not in body


def test_it_refuses_post_and_anonymous_visitors(client, users):
    assert client.get("/incident/").status_code == 302
    login(client, users["viewer"])
    assert client.post("/incident/").status_code == 405


BAD = [
    ({"since": "2026-01-02T00:00Z", "until": "2026-01-01T00:00Z"}, "until: must be after since"),
    ({"since": "2026-01-01T00:00Z", "until": "2026-01-09T00:00Z"}, "longer than 7 days"),
    ({"since": "yesterday"}, "since: not a time"),
    ({"until": "2026-13-45T99:00"}, "until: not a time"),
    ({"kind": "gossip"}, "kind: must be one of event, action, health"),
    ({"job": "not-a-job"}, "job: not a job id"),
    ({"cursor": "bm9wZQ"}, "cursor: not a cursor"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_it_refuses_bad_input_with_a_clear_400_and_changes_nothing(client, users, api, params, message):
    login(client, users["viewer"])
    viewer = api("viewer")  # its token, created first
    before = (Event.objects.count(), AuditEntry.objects.count())
    page = client.get("/incident/", params)
    assert page.status_code == 400 and message in page.content.decode()
    answer = viewer.get("/api/incident", **params)
    assert answer.status_code == 400
    if "kind" not in params:  # the API's schema refuses an unknown kind in its own words
        assert message in answer.json()["error"] + json.dumps(answer.json().get("detail"))
    assert (Event.objects.count(), AuditEntry.objects.count()) == before


@pytest.mark.parametrize(("params", "message"), [p for p in BAD if "cursor" not in p[0] and "kind" not in p[0]])
def test_it_gives_the_cli_one_line_on_bad_input(params, message):
    args = [f"--{key}={value}" for key, value in params.items()]
    with pytest.raises(CommandError, match=message.split(":")[-1].strip()):
        call_command("jobs", "incident", *args, stdout=io.StringIO())


def test_it_prints_the_window_from_the_cli(incident):
    out = io.StringIO()
    call_command("jobs", "incident", f"--since={incident['since']}", f"--until={incident['until']}", stdout=out)
    answer = json.loads(out.getvalue())
    assert any(item["what"] == "dlq.retry_all" for item in answer["items"])
    out = io.StringIO()
    call_command(
        "jobs", "incident", f"--since={incident['since']}", f"--until={incident['until']}", "--format=csv", stdout=out
    )
    assert out.getvalue().splitlines()[0] == "at,kind,what,who,jobs,reason,outcome,source,id,detail"
    assert "dlq.retry_all" in out.getvalue()


def test_it_reads_a_typical_window_in_a_bounded_number_of_queries(client, users, api, incident):
    login(client, users["viewer"])
    window = {"since": incident["since"], "until": incident["until"]}
    client.get("/incident/", window)
    timeline(api, **window)  # the API client's token is made on its first call
    with CaptureQueriesContext(connection) as page_queries:
        assert client.get("/incident/", window).status_code == 200
    with CaptureQueriesContext(connection) as api_queries:
        timeline(api, **window)
    assert len(page_queries) <= 10, [q["sql"][:100] for q in page_queries]
    assert len(api_queries) <= 10, [q["sql"][:100] for q in api_queries]


def test_it_records_a_health_change_only_when_the_status_or_the_issues_change(cli):
    live_worker()
    assert health_record() is not None  # the first: where it starts
    assert health_record() is None
    config_update(actor=cli, changes={"worker": {"enabled": False}})
    change = health_record()
    assert change is not None and change.data["issues"] == ["disabled"]
    assert change.data["previous"] == {"status": "healthy", "issues": []}
    assert reconcile()["healthChanged"] == 0
    config_update(actor=cli, changes={"worker": {"enabled": True}})
    assert reconcile()["healthChanged"] == 1
    assert list(Event.objects.filter(type="health:changed").values_list("data__status", flat=True)) == [
        "healthy",
        "degraded",
        "healthy",
    ]


SQLITE_SCRIPT = """
import json, sys, django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
from jobs.services.audit import Actor
from jobs.services.health import health_record
from jobs.services.lifecycle import job_cancel
from jobs.services.submission import job_submit
from jobs.services.users import user_set
user, _ = user_set(actor=Actor.cli("tests"), username="vera", role="viewer", password="correct-horse-battery")
health_record()
job, _ = job_submit(actor=Actor.cli("ops"), entrypoint="demo.noop", params={"n": 1})
job_cancel(actor=Actor.cli("ops"), job_id=job.id, reason="not needed")
other, _ = job_submit(actor=Actor.cli("ops"), entrypoint="demo.sleep", params={"seconds": 1})
client = Client()
client.force_login(user)
answers = {}
for query in json.loads(sys.argv[1]):
    response = client.get("/incident/" + query.replace("JOB", str(job.id)))
    text = b"".join(response.streaming_content).decode() if response.streaming else response.text
    answers[query] = [response.status_code, "not needed" in text, str(other.id) in text, "health:" in text]
print(json.dumps(answers))
"""


def test_it_works_on_sqlite_the_default_local_run(tmp_path):
    from tests.test_sqlite_pages import run_on_sqlite

    queries = ["", "?entrypoint=demo.noop", "?job=JOB", "?kind=health", "?format=csv", "?format=jsonl&kind=action"]
    answers = run_on_sqlite(SQLITE_SCRIPT, queries, tmp_path)

    assert answers[""] == [200, True, True, True]
    assert answers["?entrypoint=demo.noop"] == [200, True, False, True], "the other job's rows are left out"
    assert answers["?job=JOB"] == [200, True, False, True]
    # Only health rows; the jobs involved are the window's whatever the kind shown.
    assert answers["?kind=health"] == [200, False, True, True]
    assert answers["?format=csv"] == [200, True, True, True]
    assert answers["?format=jsonl&kind=action"] == [200, True, True, False]
