"""The runbook's actions done by people in a real browser, against real workers.

Headless Chromium signs in through the login form of the live server; Celery
worker processes run the jobs and the retry-all operation. Each test ends by
reading its action in the audit trail, and fails on any console error or CSP
violation (see tests/support/browser.py).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from jobs.models import BackgroundOperation, DLQEntry, Event, Job, Priority, Status
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from tests.support.browser import screenshot
from tests.support.console import make_dlq_entry, make_job
from tests.support.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def see_in_audit_trail(console_page, action: str, actor: str) -> Page:
    """An auditor finds the action in the trail, and the chain verifies."""
    page = console_page("auditor")
    page.goto(f"/audit/?action={action}&actor={actor}")
    expect(page.locator(f'#audit-results tr[data-action="{action}"]').first).to_be_visible()
    expect(page.locator("#verification")).to_have_attribute("data-chain", "ok")
    return page


@pytest.mark.workers
def test_it_retries_a_dlq_entry(console_page, workers):
    entry = make_dlq_entry("ConnectionError: upstream down", entrypoint="demo.noop")
    workers(1)
    page = console_page("operator")
    page.goto("/dlq/")
    row = page.locator("tr", has_text=str(entry.job_id)[:8])
    expect(row).to_contain_text("ConnectionError: upstream down")
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Retried job {entry.job_id} as new job")
    new = Job.objects.get(retried_from_id=entry.job_id)
    wait_for(lambda: Job.objects.get(id=new.id).status == Status.SUCCEEDED, timeout=30, message="retried job ran")
    page.goto(f"/jobs/{new.id}/")
    expect(page.locator("h1")).to_contain_text("succeeded")
    expect(page.locator("dl.fields")).to_contain_text(str(entry.job_id))
    see_in_audit_trail(console_page, "dlq.retry", "operator")


@pytest.mark.workers
def test_it_retries_all_with_a_progress_bar_reaching_100(console_page, workers):
    entries = [make_dlq_entry(f"TimeoutError: call {i} timed out", entrypoint="demo.noop") for i in range(30)]
    workers(1)
    page = console_page("operator")
    page.goto("/dlq/")
    page.fill("input[name=reason]", "upstream recovered")
    page.get_by_role("button", name="Retry all").click()
    expect(page.locator("#operation #confirm-step")).to_contain_text("30 DLQ entries will be retried as new jobs")
    expect(page.locator('#operation tr[data-entrypoint="demo.noop"]')).to_contain_text("30")
    assert not BackgroundOperation.objects.exists()
    page.locator("#operation").get_by_role("button", name="Confirm").click()
    progress = page.locator("#operation progress")
    expect(progress).to_be_visible()
    expect(page.locator("#operation .operation")).to_have_attribute("data-state", "done", timeout=45_000)
    expect(progress).to_have_attribute("value", "100")
    expect(page.locator("#operation")).to_contain_text("30 of 30 entries")
    expect(page.locator("#dlq-entries")).to_contain_text("The DLQ is empty.")
    screenshot(page, "dlq-retry-all-progress")
    # Exactly one new job per entry, and the DLQ is empty.
    old_ids = [e.job_id for e in entries]
    retried = list(Job.objects.filter(retried_from_id__in=old_ids).values_list("retried_from_id", flat=True))
    assert sorted(retried) == sorted(old_ids)
    assert DLQEntry.objects.count() == 0
    assert BackgroundOperation.objects.get().done == 30
    see_in_audit_trail(console_page, "dlq.retry_all", "operator")


def test_it_cancels_low_priority_jobs_under_backpressure_after_a_preview_and_a_typed_reason(console_page, cli):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 10}})
    low = [make_job(priority=Priority.LOW, entrypoint="demo.sleep") for _ in range(4)]
    low += [make_job(priority=Priority.LOW, entrypoint="demo.noop") for _ in range(2)]
    high = [make_job(priority=Priority.HIGH) for _ in range(3)]
    page = console_page("operator")
    page.goto("/backpressure/")
    expect(page.locator("#queue-live")).to_contain_text("backpressure active")
    expect(page.locator("[data-preview=low-priority]")).to_have_text("6")
    screenshot(page, "backpressure")
    page.get_by_role("button", name="Cancel low-priority jobs").click()
    # One click shows what it will do, and does nothing yet.
    step = page.locator("#confirm-step")
    expect(step).to_contain_text("6 jobs will be canceled")
    expect(step.locator('tr[data-entrypoint="demo.sleep"]')).to_contain_text("4")
    expect(step.locator('tr[data-entrypoint="demo.noop"]')).to_contain_text("2")
    assert not Job.objects.filter(status=Status.CANCELED).exists()
    reason = step.get_by_label("Reason")
    expect(reason).to_have_value("")  # typed by the operator, never a default
    step.get_by_role("button", name="Confirm").click()
    assert reason.evaluate("el => el.validity.valueMissing")  # the browser asks for it first
    assert not Job.objects.filter(status=Status.CANCELED).exists()
    screenshot(page, "backpressure-confirm")
    reason.fill("Backpressure relief during incident")
    step.get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash-success")).to_contain_text("Canceled 6 low-priority jobs.")
    expect(page.locator("#queue-live")).to_contain_text("room to spare")
    assert set(Job.objects.filter(id__in=[j.id for j in low]).values_list("status", flat=True)) == {"canceled"}
    assert set(Job.objects.filter(id__in=[j.id for j in high]).values_list("status", flat=True)) == {"queued"}
    assert set(Job.objects.filter(id__in=[j.id for j in low]).values_list("status_reason", flat=True)) == {
        "Backpressure relief during incident"
    }
    see_in_audit_trail(console_page, "queue.cancel_low_priority", "operator")


@pytest.mark.workers
def test_it_approves_a_waiting_job_which_then_runs(console_page, workers, make_user):
    submitter = make_user("operator", "alice")
    from jobs.services.audit import Actor

    job, _ = job_submit(actor=Actor.for_user(submitter), entrypoint="demo.noop", params={"deploy": 1}, issue_id="42")
    assert job.status == Status.WAITING_APPROVAL
    workers(1)
    page = console_page("approver")
    page.goto("/approvals/")
    row = page.locator(f'tr[data-job="{job.id}"]')
    expect(row).to_contain_text("alice")
    screenshot(page, "approvals")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash-success")).to_contain_text("Approved job")
    wait_for(lambda: Job.objects.get(id=job.id).status == Status.SUCCEEDED, timeout=30, message="approved job ran")
    assert Job.objects.get(id=job.id).approved_by == "approver"
    see_in_audit_trail(console_page, "job.approve", "approver")


@pytest.mark.workers
def test_it_force_fails_running_jobs_as_admin(console_page, workers, cli):
    jobs = [job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 6, "n": n})[0] for n in range(2)]
    workers(2)
    wait_for(lambda: Job.objects.filter(status=Status.RUNNING).count() == 2, timeout=40, message="2 running")
    page = console_page("admin")
    page.goto("/emergency/")
    page.get_by_role("button", name="Force-fail running jobs").click()
    expect(page.locator("#confirm-step")).to_contain_text("2 jobs will be force-failed")
    expect(page.locator('#confirm-step tr[data-entrypoint="demo.sleep"]')).to_contain_text("2")
    page.fill("#step-confirm", "force fail running")
    page.fill("#step-reason", "Emergency shutdown")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash-success")).to_contain_text("Force-failed 2 running jobs; they are in the DLQ.")
    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.last_error) == (Status.FAILED, "Emergency shutdown")
    assert DLQEntry.objects.filter(job__in=jobs).count() == 2
    audit = see_in_audit_trail(console_page, "emergency.force_fail_running", "admin")
    expect(audit.locator("#audit-results")).to_contain_text("2 jobs")


HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_it_refreshes_the_dashboard_while_visible_and_stops_while_hidden(console_page):
    page = console_page("viewer")
    polls: list[str] = []
    page.on(
        "request",
        lambda r: polls.append(r.url) if r.headers.get("hx-request") and urlsplit(r.url).path == "/" else None,
    )
    page.goto("/")
    queued = page.locator('a.count[href$="status=queued"] .n')
    expect(queued).to_have_text("0")
    make_job()
    expect(queued).to_have_text("1", timeout=8_000)  # refreshed by polling, no reload
    page.evaluate(HIDE)
    page.wait_for_timeout(300)
    seen = len(polls)
    page.wait_for_timeout(6_000)
    assert len(polls) == seen, "polled while hidden"
    page.evaluate(SHOW)
    page.wait_for_timeout(500)
    assert len(polls) == seen + 1, "did not refresh at once when visible again"


def test_it_filters_selects_and_cancels_jobs_in_bulk(console_page):
    queued = [make_job(entrypoint="demo.sleep") for _ in range(3)]
    make_job(status=Status.SUCCEEDED)
    page = console_page("operator")
    page.goto("/jobs/")
    expect(page.locator("#job-results tbody tr")).to_have_count(4)
    page.select_option("#id_status", "queued")  # htmx swaps the results and pushes the URL
    expect(page.locator("#job-results tbody tr")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"status=queued"))
    page.check("input[data-select-all=bulk-cancel]")
    expect(page.locator("[data-selected-count=bulk-cancel]")).to_have_text("3")
    page.fill("#bulk-reason", "submitted twice")
    page.get_by_role("button", name="Cancel selected").click()
    expect(page.locator("#confirm-step")).to_contain_text("3 jobs will be canceled")
    expect(page.get_by_label("Reason")).to_have_value("submitted twice")  # what was typed on the list
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash-success")).to_contain_text("Canceled 3 jobs.")
    assert set(Job.objects.filter(id__in=[j.id for j in queued]).values_list("status", flat=True)) == {"canceled"}
    see_in_audit_trail(console_page, "jobs.cancel", "operator")


def test_it_adds_new_events_to_the_live_feed(console_page):
    page = console_page("viewer")
    page.goto("/events/")
    expect(page.locator("#events-empty")).to_contain_text("No events yet.")
    first = Event.objects.create(type="job:submitted", data={"entrypoint": "demo.noop"})
    expect(page.locator(f'#event-rows tr[data-event="{first.id}"]')).to_be_visible(timeout=8_000)
    expect(page.locator("#events-empty")).to_be_empty()
    second = Event.objects.create(type="job:failed", data={"error": "boom"})
    expect(page.locator("#event-rows tr").first).to_have_attribute("data-event", str(second.id), timeout=8_000)
    expect(page.locator("#event-rows tr")).to_have_count(2)  # each event once
