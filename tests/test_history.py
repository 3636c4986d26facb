"""History: rollups written as jobs run, read by the History page, GET /api/history and the dashboard."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.engine.admission import job_claim_next, job_succeed_then_claim_next
from jobs.engine.runner import job_execute
from jobs.models import Job, JobRollup, Status
from jobs.selectors.history import WINDOWS, Histogram, _counted_rows, _rows, history
from jobs.services.config import config_update
from jobs.services.rollups import ROLLUP_RETENTION, rollups_compact
from jobs.services.submission import job_submit
from tests.support.console import login

pytestmark = pytest.mark.django_db

TOUCHES_JOB_TABLE = re.compile(r"\bjobs_job\b")


def run_next() -> str:
    """Admit and execute the next job in this process, as a worker would."""
    job = job_claim_next(worker="w-test")
    assert job is not None
    return job_execute(job, worker="w-test")


@pytest.fixture
def ran(cli):
    """Three demo.noop runs, and one demo.fail job that fails, is retried and fails for good."""
    config_update(actor=cli, changes={"worker": {"retryDelayMs": 0}})
    for n in range(3):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
        assert run_next() == Status.SUCCEEDED
    job_submit(actor=cli, entrypoint="demo.fail", max_attempts=2)
    assert run_next() == Status.QUEUED
    assert run_next() == Status.FAILED


def by_entrypoint(body: dict) -> dict[str, dict]:
    return {series["entrypoint"]: series for series in body["entrypoints"]}


def test_it_rolls_up_each_run_per_entrypoint_in_the_current_hour(ran, api):
    response = api("viewer").get("/api/history", window="24h")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["window"] == "24h" and body["bucketSeconds"] == 3600
    assert len(body["total"]["buckets"]) == 24
    series = by_entrypoint(body)
    assert set(series) == {"demo.noop", "demo.fail"}
    noop, fail = series["demo.noop"], series["demo.fail"]
    now = noop["buckets"][-1]
    assert (now["succeeded"], now["failed"], now["retried"]) == (3, 0, 0)
    assert now["runTimeMs"]["count"] == 3 and now["runTimeMs"]["p50"] is not None
    assert now["queueLatencyMs"]["count"] == 3  # each admission
    assert (fail["totals"]["succeeded"], fail["totals"]["failed"], fail["totals"]["retried"]) == (0, 1, 1)
    assert fail["totals"]["queueLatencyMs"]["count"] == 2  # admitted twice
    assert all(b["succeeded"] == b["failed"] == 0 for b in noop["buckets"][:-1])
    total = body["total"]["totals"]
    assert (total["succeeded"], total["failed"], total["retried"]) == (3, 1, 1)


def test_it_narrows_to_one_entrypoint(ran, api):
    body = api("viewer").get("/api/history", window="7d", entrypoint="demo.fail").json()
    assert body["bucketSeconds"] == 6 * 3600 and len(body["total"]["buckets"]) == 28
    assert [series["entrypoint"] for series in body["entrypoints"]] == ["demo.fail"]
    assert body["total"]["totals"]["failed"] == 1 and body["total"]["totals"]["succeeded"] == 0


def test_the_shell_prints_what_the_api_answers_and_refuses_a_bad_window_in_one_line(ran, api):
    out = io.StringIO()
    call_command("jobs", "history", "--window=7d", "--entrypoint=demo.fail", stdout=out)
    printed = json.loads(out.getvalue())
    answered = api("viewer").get("/api/history", window="7d", entrypoint="demo.fail").json()
    assert printed["total"]["totals"] == answered["total"]["totals"]
    assert [series["entrypoint"] for series in printed["entrypoints"]] == ["demo.fail"]
    assert printed["total"]["totals"]["failed"] == 1

    with pytest.raises(CommandError, match=r"^window: must be one of 24h, 7d \(got 'bogus'\)$"):
        call_command("jobs", "history", "--window=bogus", stdout=io.StringIO())


def test_it_counts_the_hot_path_that_hands_a_slot_to_the_next_job(cli):
    """job_succeed_then_claim_next ends one run and admits the next in one statement: both count."""
    first, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 1})
    job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 0})
    claimed = job_claim_next(worker="w-test")
    assert claimed.id == first.id
    status, following = job_succeed_then_claim_next(claimed, worker="w-test", result=None)
    assert status == Status.SUCCEEDED and following is not None
    assert job_execute(following, worker="w-test") == Status.SUCCEEDED

    report = history(WINDOWS["24h"])
    counts = {s.entrypoint: (s.total.succeeded, s.total.run.count, s.total.wait.count) for s in report.series}
    assert counts == {"demo.noop": (1, 1, 1), "demo.sleep": (1, 1, 1)}


def test_it_puts_a_run_in_the_bucket_of_the_hour_it_ended(cli):
    """Runs that ended hours ago land in their hour (24 h) and their 6-hour bucket (7 days)."""
    now = timezone.now()
    job, _ = job_submit(actor=cli, entrypoint="demo.noop")
    ended = now - timedelta(hours=3)
    # Test data: a run as the engine would have ended it three hours ago, through the trigger.
    Job.objects.filter(id=job.id).update(status=Status.RUNNING, started_at=ended - timedelta(seconds=2))
    Job.objects.filter(id=job.id).update(status=Status.SUCCEEDED, completed_at=ended)
    old, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"old": 1})
    Job.objects.filter(id=old.id).update(status=Status.RUNNING, started_at=now - timedelta(hours=30))
    Job.objects.filter(id=old.id).update(status=Status.FAILED, completed_at=now - timedelta(hours=30))

    day = history(WINDOWS["24h"], now=now)
    three_hours_ago = [p for p in day.total.points if p.start <= ended < p.start + timedelta(hours=1)]
    assert [(p.succeeded, p.run.count) for p in three_hours_ago] == [(1, 1)]
    assert day.total.total.succeeded == 1 and day.total.total.failed == 0  # 30 h ago is outside
    assert 1000 < three_hours_ago[0].run.p50 <= 2500  # 2 s, estimated within (1 s, 2.5 s]

    week = history(WINDOWS["7d"], now=now)
    assert (week.total.total.succeeded, week.total.total.failed) == (1, 1)
    assert sum(1 for p in week.total.points if p.finished) == 2  # 3 h and 30 h ago: two 6-hour buckets


def test_it_measures_queue_latency_from_when_the_job_became_due(cli):
    due_at = timezone.now() - timedelta(seconds=40)
    job, _ = job_submit(actor=cli, entrypoint="demo.noop")
    Job.objects.filter(id=job.id).update(created_at=due_at - timedelta(minutes=30), next_attempt_at=due_at)
    assert run_next() == Status.SUCCEEDED
    [series] = history(WINDOWS["24h"]).series
    assert series.total.wait.count == 1
    assert 30_000 < series.total.wait.p50 <= 60_000  # about 40 s: due 40 s ago, not created 30 min ago


def test_folding_keeps_the_answers_and_leaves_one_row_per_hour_and_entrypoint(ran):
    before = history(WINDOWS["24h"])
    assert JobRollup.objects.count() > 2
    ancient = JobRollup.objects.create(
        bucket_start=timezone.now() - ROLLUP_RETENTION - timedelta(hours=1), entrypoint="demo.noop", succeeded=5
    )
    assert rollups_compact() > 0
    assert not JobRollup.objects.filter(id=ancient.id).exists()
    assert JobRollup.objects.count() == 2  # demo.noop and demo.fail, this hour
    after = history(WINDOWS["24h"])
    assert [(s.entrypoint, s.total) for s in after.series] == [(s.entrypoint, s.total) for s in before.series]


def test_the_local_run_counts_the_same_from_the_jobs(ran):
    """On SQLite there is no trigger: the History figures are counted from recent jobs and retry events."""
    start = timezone.now() - timedelta(hours=1)

    def figures(rows):
        return {
            r["entrypoint"]: (r["succeeded"], r["failed"], r["retried"], r["run_count"], r["wait_count"]) for r in rows
        }

    # The last admission of each job only: demo.fail was admitted twice and counts once here.
    assert figures(_counted_rows(start, None, None)) == {"demo.noop": (3, 0, 0, 3, 3), "demo.fail": (0, 1, 1, 1, 1)}
    assert figures(_rows(start, None, None)) == {"demo.noop": (3, 0, 0, 3, 3), "demo.fail": (0, 1, 1, 1, 2)}


def test_it_estimates_percentiles_within_the_bucket_that_holds_them():
    histogram = Histogram()
    histogram.counts[3] = 100  # 100 values in (100 ms, 250 ms]
    assert histogram.p50 == pytest.approx(175)
    assert histogram.p95 == pytest.approx(242.5)
    histogram.counts[-1] = 1000  # most of them above the last bound: that bound is all it can say
    assert histogram.p95 == 3_600_000
    assert Histogram().p50 is None


def test_the_page_shows_charts_tables_and_counts_per_entrypoint(ran, client, users):
    response = login(client, users["viewer"]).get(reverse("jobs:history"))
    assert response.status_code == 200
    page = response.text
    assert page.count('<svg class="chart"') == 3
    assert 'class="ok"' in page and 'class="fail"' in page and 'class="retry"' in page and 'class="p50"' in page
    assert "style=" not in page.split("<main", 1)[1]  # the CSP allows no inline style
    rows = re.findall(r'<tr data-entrypoint="([^"]+)">(.*?)</tr>', page, re.S)
    cells = {name: re.findall(r'class="num">([^<]*)<', row)[:3] for name, row in rows}
    assert cells == {"demo.fail": ["0", "1", "1"], "demo.noop": ["3", "0", "0"]}
    assert "data-history-buckets" in page  # the table behind the charts
    assert 'hx-trigger="poll" data-poll="60000"' in page  # refreshes every minute while visible
    assert f'href="{reverse("jobs:history")}"' in page  # in the nav


def test_the_page_narrows_to_an_entrypoint_and_answers_htmx_with_its_region(ran, client, users):
    login(client, users["viewer"])
    response = client.get(reverse("jobs:history"), {"window": "7d", "entrypoint": "demo.noop"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="history" data-window="7d"')
    assert "?window=7d&amp;entrypoint=demo.noop" in response.text  # its refresh keeps the filter
    assert 'data-entrypoint="demo.noop"' in response.text and 'data-entrypoint="demo.fail"' not in response.text


def test_the_page_and_the_api_never_read_the_job_table(ran, client, users, api):
    login(client, users["viewer"])
    bearer = api("viewer")
    for get in (
        lambda: client.get(reverse("jobs:history")),
        lambda: client.get(reverse("jobs:history"), {"window": "7d", "entrypoint": "demo.noop"}),
        lambda: bearer.get("/api/history", window="7d"),
        lambda: bearer.get("/api/history", entrypoint="demo.fail"),
    ):
        with CaptureQueriesContext(connection) as captured:
            assert get().status_code == 200
        assert not [q["sql"] for q in captured if TOUCHES_JOB_TABLE.search(q["sql"])]
        assert len(captured) <= 10


def test_a_bad_window_answers_400_with_what_is_allowed(client, users, api):
    response = api("viewer").get("/api/history", window="bogus")
    assert response.status_code == 400
    assert response.json()["error"] == "window: must be one of 24h, 7d (got 'bogus')"
    page = login(client, users["viewer"]).get(reverse("jobs:history"), {"window": "bogus"})
    assert page.status_code == 400 and "window: must be one of 24h, 7d" in page.text


def test_an_entrypoint_with_a_nul_character_answers_400(client, users, api):
    response = api("viewer").get("/api/history", entrypoint="a\x00b")
    assert response.status_code == 400
    assert response.json()["error"] == "entrypoint: must not contain NUL characters"
    assert login(client, users["viewer"]).get(reverse("jobs:history"), {"entrypoint": "a\x00b"}).status_code == 400


def test_it_needs_a_sign_in_and_only_reads(client, users):
    assert client.get(reverse("jobs:history")).status_code == 302
    assert login(client, users["viewer"]).post(reverse("jobs:history")).status_code == 405


def test_the_api_needs_a_token():
    from django.test import Client

    assert Client().get("/api/history").status_code == 401


def test_the_dashboard_shows_p50_and_p95_run_time_per_entrypoint(ran, client, users):
    response = login(client, users["viewer"]).get(reverse("jobs:dashboard"))
    rows = {row["entrypoint"]: row for row in response.context["run_times"]}
    assert set(rows) == {"demo.noop", "demo.fail"}
    assert rows["demo.noop"]["runs"] == 3 and rows["demo.fail"]["runs"] == 1  # runs that ended
    assert rows["demo.noop"]["p50"].endswith("ms") and rows["demo.noop"]["p95"].endswith("ms")
    assert '<tr data-entrypoint="demo.noop"><td data-label="Entry point" class="mono">demo.noop</td>' in response.text


def test_the_dashboard_says_when_nothing_ran(client, users):
    assert "No run ended in the last 24 hours." in login(client, users["viewer"]).get(reverse("jobs:dashboard")).text


SQLITE_RUN = """
import json, sys, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.services.audit import Actor
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from jobs.services.users import user_set
cli = Actor.cli("tests")
config_update(actor=cli, changes={"worker": {"retryDelayMs": 0}})
for n in range(2):
    job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
job_submit(actor=cli, entrypoint="demo.fail", max_attempts=2)
while (job := job_claim_next(worker="w")) is not None:
    job_execute(job, worker="w")
user, _ = user_set(actor=cli, username="vic", role="viewer", password="correct-horse-battery")
client = Client()
client.force_login(user)
answers = {}
for path in json.loads(sys.argv[1]):
    response = client.get(path)
    body = response.json() if path.startswith("/api/") else response.text
    answers[path] = [response.status_code, body]
print(json.dumps(answers))
"""


def test_the_local_run_on_sqlite_shows_history_from_the_jobs(tmp_path):
    from tests.test_sqlite_pages import run_on_sqlite

    answers = run_on_sqlite(SQLITE_RUN, ["/api/history", "/history/?window=7d", "/"], tmp_path)
    status, body = answers["/api/history"]
    assert status == 200
    totals = {s["entrypoint"]: s["totals"] for s in body["entrypoints"]}
    assert (totals["demo.noop"]["succeeded"], totals["demo.noop"]["runTimeMs"]["count"]) == (2, 2)
    assert (totals["demo.fail"]["failed"], totals["demo.fail"]["retried"]) == (1, 1)
    page_status, page = answers["/history/?window=7d"]
    assert page_status == 200 and '<tr data-entrypoint="demo.fail">' in page
    dashboard_status, dashboard = answers["/"]
    assert dashboard_status == 200 and '<tr data-entrypoint="demo.noop">' in dashboard


@pytest.mark.workers
@pytest.mark.django_db(transaction=True)
def test_real_workers_and_beat_leave_folded_rollups_per_entrypoint(workers, beat, cli, roles):
    """A prefork worker drains the queue (success and next admission in one statement); beat's
    reconciler folds what the trigger appended into one row per hour and entry point."""
    from jobs.models import Status as JobStatus
    from tests.support.processes import wait_for

    config_update(actor=cli, changes={"worker": {"retryDelayMs": 0}, "queue": {"maxConcurrent": 2}})
    for n in range(12):
        job_submit(actor=cli, entrypoint="demo.noop" if n % 3 else "demo.sleep", params={"n": n, "seconds": 0})
    job_submit(actor=cli, entrypoint="demo.fail", max_attempts=2)
    workers(1, pool="prefork", concurrency=2)
    beat()
    wait_for(
        lambda: Job.objects.filter(status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]).count() == 13,
        timeout=60,
        message="every job ended",
    )
    report = history(WINDOWS["24h"])
    figures = {
        s.entrypoint: (s.total.succeeded, s.total.failed, s.total.retried, s.total.wait.count) for s in report.series
    }
    assert figures == {"demo.noop": (8, 0, 0, 8), "demo.sleep": (4, 0, 0, 4), "demo.fail": (0, 1, 1, 2)}

    def folded():
        keys = list(JobRollup.objects.values_list("bucket_start", "entrypoint"))
        return len(keys) == len(set(keys))

    wait_for(folded, timeout=30, message="the reconciler folded the rollups")
    again = history(WINDOWS["24h"])
    assert [(s.entrypoint, s.total) for s in again.series] == [(s.entrypoint, s.total) for s in report.series]
