"""A screenshot of every page with lifelike data, for docs/screenshots/ (and a look at each).

Every page is also checked for console errors and CSP violations in light and dark mode.
"""

from __future__ import annotations

import contextlib
import random
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from playwright.sync_api import expect

from jobs.actions.perform import perform
from jobs.models import (
    ROLLUP_BUCKET_NAMES,
    AdmissionSlot,
    DLQEntry,
    Event,
    JobRollup,
    Priority,
    Status,
    WorkerHeartbeat,
)
from jobs.services.audit import Actor
from jobs.services.config import config_update
from jobs.services.dlq import dlq_retry
from jobs.services.lifecycle import job_cancel
from tests.support.browser import open_page, screenshot, sign_in
from tests.support.console import make_dlq_entry, make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ERRORS = [
    "TimeoutError: upstream call timed out after 30s",
    "ConnectionError: api.partner.example refused the connection",
    "ValueError: params.region must be one of eu, us",
]


def seed(users) -> dict:
    rng = random.Random(7)
    now = timezone.now()
    entrypoints = ["reports.nightly", "billing.sync", "demo.noop", "demo.sleep", "mail.digest"]
    jobs = []
    for i in range(40):
        status = [Status.SUCCEEDED] * 5 + [Status.QUEUED] * 2 + [Status.RUNNING, Status.FAILED, Status.CANCELED]
        jobs.append(
            make_job(
                entrypoint=rng.choice(entrypoints),
                status=rng.choice(status),
                priority=rng.choice(list(Priority)),
                params={"region": rng.choice(["eu", "us"]), "batch": i},
                attempts=rng.randint(1, 3),
                submitted_by=rng.choice(["operator", "api:billing", "alice"]),
                created_at=now - timedelta(minutes=i * 3),
            )
        )
    detail = make_job(
        entrypoint="reports.nightly",
        status=Status.SUCCEEDED,
        params={"region": "eu", "day": "2026-11-27", "formats": ["csv", "pdf"]},
        result={"rows": 18234, "files": ["eu-2026-11-27.csv", "eu-2026-11-27.pdf"]},
        attempts=2,
        worker="w1@ops-1:4121",
        started_at=now - timedelta(minutes=4),
        completed_at=now - timedelta(minutes=1),
        submitted_by="alice",
    )
    for i, (kind, data) in enumerate(
        [
            ("job:submitted", {"entrypoint": "reports.nightly", "priority": "normal"}),
            ("job:started", {"worker": "w1@ops-1:4121", "attempt": 1}),
            ("job:retrying", {"error": ERRORS[0], "attempt": 1, "nextAttemptInMs": 5000}),
            ("job:started", {"worker": "w2@ops-2:877", "attempt": 2}),
            ("job:succeeded", {"attempt": 2}),
        ]
    ):
        Event.objects.create(type=kind, job_id=detail.id, data=data, created_at=now - timedelta(minutes=5 - i))
    for i in range(14):
        entry = make_dlq_entry(
            ERRORS[i % 3].replace("30s", f"{30 + i}s"),
            entrypoint=rng.choice(entrypoints),
            priority=rng.choice(list(Priority)),
            created_at=now - timedelta(hours=2, minutes=i * 7),
        )
        DLQEntry.objects.filter(pk=entry.pk).update(added_at=now - timedelta(minutes=i * 9 + 3))
    for issue in ("118", "121", "124"):
        make_job(status=Status.WAITING_APPROVAL, entrypoint="deploy.production", issue_id=issue, submitted_by="alice")
    make_job(
        status=Status.WAITING_APPROVAL,
        entrypoint="db.migrate",
        issue_id="130",
        submitted_by="operator",
        approval_expires_at=now + timedelta(minutes=35),
    )
    minute_events = []
    for minute in range(60):
        for _ in range(max(0, int(8 + 6 * rng.random() - abs(30 - minute) / 6))):
            minute_events.append(Event(type="job:succeeded", created_at=now - timedelta(minutes=minute, seconds=5)))
        if rng.random() < 0.3:
            minute_events.append(Event(type="job:failed", created_at=now - timedelta(minutes=minute, seconds=9)))
    Event.objects.bulk_create(minute_events)
    for name, pid, seen, current in (
        ("w1@ops-1", 4121, 0, jobs[0].id),
        ("w2@ops-2", 877, 1, None),
        ("w3@ops-3", 90, 600, None),
    ):
        WorkerHeartbeat.objects.create(
            name=f"{name}:{pid}",
            hostname=name.split("@")[1],
            pid=pid,
            started_at=now - timedelta(hours=3, minutes=pid % 50),
            last_seen=now - timedelta(seconds=seen),
            processed=pid % 300 + 40,
            succeeded=pid % 300 + 31,
            failed=9,
        )
        if current:
            AdmissionSlot.objects.create(number=1, job_id=current, worker=f"{name}:{pid}", claimed_at=now)
    operator = Actor.for_user(users["operator"], ip="10.0.4.17", user_agent="Mozilla/5.0")
    admin = Actor.for_user(users["admin"], ip="10.0.4.2", user_agent="Mozilla/5.0")
    for job in [j for j in jobs if j.status == Status.QUEUED][:2]:
        job_cancel(actor=operator, job_id=job.id, reason="duplicate submission")
    config_update(actor=admin, changes={"queue": {"maxConcurrent": 4}}, reason="more headroom for the nightly batch")
    dlq_retry(actor=operator, job_id=DLQEntry.objects.order_by("added_at").first().job_id, reason="partner is back")
    with contextlib.suppress(PermissionDenied):
        viewer = Actor.for_user(users["viewer"], ip="10.0.4.33")
        perform("dlq.clear", viewer, {"reason": "tidy up", "confirm": "clear the dlq"}, door="console")
    seed_history(rng, now)
    return {"detail": detail}


def seed_history(rng: random.Random, now) -> None:
    """A day of rollups, as the job table's trigger and the folding leave them: a nightly peak, some retries."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    rows = []
    for name, scale in (("reports.nightly", 30), ("billing.sync", 12), ("mail.digest", 6)):
        for back in range(24):
            busy = 1 + (3 if 1 <= (hour - timedelta(hours=back)).hour <= 4 else 0)
            runs = [rng.randint(0, scale * busy) for _ in ROLLUP_BUCKET_NAMES[2:8]]
            waits = [rng.randint(0, scale * busy) for _ in ROLLUP_BUCKET_NAMES[:5]]
            failed = rng.randint(0, 2)
            row = JobRollup(
                bucket_start=hour - timedelta(hours=back),
                entrypoint=name,
                succeeded=sum(runs) - failed,
                failed=failed,
                retried=rng.randint(0, 3 * busy),
                run_count=sum(runs),
                run_ms=sum(runs) * 700,
                wait_count=sum(waits),
                wait_ms=sum(waits) * 90 * busy,
            )
            for n, bucket in zip(runs, ROLLUP_BUCKET_NAMES[2:8], strict=True):
                setattr(row, f"run_le_{bucket}", n)
            for n, bucket in zip(waits, ROLLUP_BUCKET_NAMES[:5], strict=True):
                setattr(row, f"wait_le_{bucket}", n)
            rows.append(row)
    JobRollup.objects.bulk_create(rows)


def test_it_takes_a_screenshot_of_every_page(browser, live_server, users, settings):
    settings.JOBS_GITHUB_REPO = "acme/ops"
    data = seed(users)
    page = open_page(browser, live_server.url)
    page.goto("/login/")
    screenshot(page, "login")
    sign_in(page, "admin")
    shots = [
        ("/", "dashboard", ".chart"),
        ("/jobs/", "jobs", "#job-results table"),
        (f"/jobs/{data['detail'].id}/", "job-detail", ".timeline"),
        ("/dlq/", "dlq", "#dlq-entries table"),
        ("/dlq/?view=groups", "dlq-groups", "#dlq-entries table"),
        ("/backpressure/", "backpressure-admin", "#queue-live"),
        ("/approvals/", "approvals-list", "#approvals-live table"),
        ("/workers/", "workers", "#workers-live table"),
        ("/events/", "events", "#event-rows tr"),
        ("/history/", "history", "#history .chart"),
        ("/emergency/", "emergency", ".danger-zone"),
        ("/audit/", "audit", "#verification"),
        ("/config/", "config", "form"),
    ]
    for url, name, ready in shots:
        page.goto(url)
        expect(page.locator(ready).first).to_be_visible()
        screenshot(page, name, full_page=name == "job-detail")
    dark = open_page(browser, live_server.url, color_scheme="dark")
    sign_in(dark, "operator")
    for url, name in (
        ("/", "dashboard-dark"),
        ("/dlq/", "dlq-dark"),
        (f"/jobs/{data['detail'].id}/", "job-detail-dark"),
    ):
        dark.goto(url)
        screenshot(dark, name)
    problems = page.problems + dark.problems
    assert not problems, problems
    for p in (page, dark):
        p.context.close()


def test_it_shows_a_forbidden_page_and_a_lockout_page(browser, live_server, users):
    page = open_page(browser, live_server.url)
    sign_in(page, "viewer")
    page.goto("/emergency/")
    expect(page.locator("h1")).to_have_text("Not allowed")
    screenshot(page, "forbidden")
    page.context.close()
    locked = open_page(browser, live_server.url)
    for _ in range(5):
        locked.goto("/login/")
        locked.fill("#id_username", "viewer")
        locked.fill("#id_password", "wrong")
        locked.click("button[type=submit]")
    expect(locked.locator("h1")).to_have_text("Too many failed sign-ins")
    screenshot(locked, "lockout")
    locked.context.close()
