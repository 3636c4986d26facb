"""Pages whose state changes refresh themselves while they are open, as the dashboard does.

The state changes behind the page (services, real workers); the page follows without a
reload. A region someone is typing in waits until they are done.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import Status
from jobs.services.approvals import job_approve
from jobs.services.audit import Actor
from jobs.services.dlq import dlq_retry
from jobs.services.lifecycle import job_cancel
from jobs.services.operations import dlq_retry_all_start
from jobs.services.submission import job_submit
from tests.support.console import make_dlq_entry, make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_MS = 8_000  # the pages poll every 5 s


def test_it_refreshes_the_dlq_as_entries_arrive_and_leave(console_page, users):
    page = console_page("operator")
    page.goto("/dlq/")
    expect(page.locator("#dlq-entries")).to_contain_text("The DLQ is empty.")
    expect(page.get_by_role("button", name="Retry all")).to_be_disabled()
    first = make_dlq_entry("TimeoutError: upstream timed out")
    make_dlq_entry("ConnectionError: refused")
    expect(page.locator("#dlq-entries .card-head")).to_contain_text("2 entries", timeout=POLL_MS)
    expect(page.locator("#dlq-entries tbody tr")).to_have_count(2)
    # The Retry all box counts the same entries, and may be used now.
    expect(page.locator("#dlq-retry-summary")).to_contain_text("2 entries")
    expect(page.get_by_role("button", name="Retry all")).to_be_enabled()
    dlq_retry(actor=Actor.for_user(users["admin"]), job_id=first.job_id, reason="upstream is back")
    expect(page.locator("#dlq-entries .card-head")).to_contain_text("1 entry", timeout=POLL_MS)
    expect(page.locator("#dlq-entries tbody tr")).to_have_count(1)
    expect(page.locator("#dlq-retry-summary")).to_contain_text("1 entry")


@pytest.mark.workers
def test_it_shows_a_retry_all_under_way_and_the_dlq_refilling_after_it(console_page, users, workers):
    # Jobs that fail again: every retried job comes back into the DLQ.
    for i in range(6):
        make_dlq_entry(f"ValueError: bad input {i}", entrypoint="demo.fail", max_attempts=1)
    page = console_page("viewer")
    page.goto("/dlq/")
    expect(page.locator("#dlq-entries .card-head")).to_contain_text("6 entries")
    # Someone else retries them all; the open page shows that operation and how far it got.
    dlq_retry_all_start(actor=Actor.for_user(users["operator"]), reason="deploy fixed it")
    expect(page.locator("#operation .operation")).to_be_visible(timeout=POLL_MS)
    expect(page.locator("#operation")).to_contain_text("Retrying all DLQ entries")
    workers(1)
    expect(page.locator("#operation .operation")).to_have_attribute("data-state", "done", timeout=45_000)
    expect(page.locator("#operation")).to_contain_text("6 of 6 entries")
    # The retried jobs fail again and refill the DLQ: the page ends showing them, not "empty".
    expect(page.locator("#dlq-entries tbody tr")).to_have_count(6, timeout=45_000)
    expect(page.locator("#dlq-entries .card-head")).to_contain_text("6 entries")
    expect(page.locator("#dlq-entries")).not_to_contain_text("The DLQ is empty.")


def test_it_refreshes_the_approvals_but_not_while_a_reason_is_typed(console_page, make_user):
    page = console_page("approver")
    admin = Actor.for_user(make_user("admin"))
    page.goto("/approvals/")
    expect(page.locator("#approvals-live")).to_contain_text("No job is waiting for approval.")
    waiting = make_job(status=Status.WAITING_APPROVAL, issue_id="42", submitted_by="alice")
    row = page.locator(f'tr[data-job="{waiting.id}"]')
    expect(row).to_be_visible(timeout=POLL_MS)
    expect(page.locator("#approvals-live .card-head")).to_contain_text("1 job")
    # A reason half typed is not wiped by a refresh...
    row.get_by_placeholder("Reason to reject").fill("wrong iss")
    other = make_job(status=Status.WAITING_APPROVAL, issue_id="43", submitted_by="alice")
    page.wait_for_timeout(POLL_MS)
    expect(row.get_by_placeholder("Reason to reject")).to_have_value("wrong iss")
    # ...and once it is cleared the page catches up.
    row.get_by_placeholder("Reason to reject").fill("")
    page.locator("h1").click()
    expect(page.locator(f'tr[data-job="{other.id}"]')).to_be_visible(timeout=POLL_MS)
    job_approve(actor=admin, job_id=waiting.id, reason="looks right")
    expect(row).to_have_count(0, timeout=POLL_MS)
    expect(page.locator("#approvals-live .card-head")).to_contain_text("1 job")


def test_it_refreshes_a_job_page_when_the_job_is_canceled(console_page, make_user):
    job = make_job(entrypoint="demo.sleep")
    page = console_page("viewer")
    page.goto(f"/jobs/{job.id}/")
    expect(page.locator("h1 .badge")).to_have_text("queued")
    job_cancel(actor=Actor.for_user(make_user("operator")), job_id=job.id, reason="not needed after all")
    expect(page.locator("h1 .badge")).to_have_text("canceled", timeout=POLL_MS)
    expect(page.locator("dl.fields")).to_contain_text("not needed after all")


@pytest.mark.workers
def test_it_follows_a_job_from_queued_to_running_to_succeeded(console_page, workers, cli):
    job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 7})
    page = console_page("viewer")
    page.goto(f"/jobs/{job.id}/")
    expect(page.locator("h1 .badge")).to_have_text("queued")
    workers(1)
    expect(page.locator("h1 .badge")).to_have_text("running", timeout=30_000)
    expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator(".timeline")).to_contain_text("job:succeeded")


def test_it_keeps_the_page_of_the_list_a_user_moved_to(console_page):
    for i in range(3):
        make_dlq_entry(f"TimeoutError: call {i} timed out")
    page = console_page("viewer")
    page.goto("/dlq/?limit=2")
    expect(page.locator("#dlq-entries tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("#dlq-entries tbody tr")).to_have_count(1)
    page.wait_for_timeout(POLL_MS)  # refreshed at least once meanwhile: still the older page
    expect(page.locator("#dlq-entries tbody tr")).to_have_count(1)
    expect(page.locator("#dlq-entries")).to_contain_text("End of list")
