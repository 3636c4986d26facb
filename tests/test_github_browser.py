"""In a real browser: a label added on (the fake) GitHub shows the job approved in the console,
and the audit trail names the GitHub login."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.github.poll import approvals_poll
from jobs.models import Status
from jobs.services.audit import Actor
from jobs.services.submission import job_submit
from tests.support.browser import browser, console_page  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_shows_a_job_approved_by_a_github_label_and_names_the_login_in_the_audit_trail(
    console_page,  # noqa: F811
    fake_github,
    redis_client,
):
    fake_github.set_permission("alice", "write")
    polled = fake_github.add_issue(81)
    checked = fake_github.add_issue(82)
    by_poll, _ = job_submit(actor=Actor.cli("deploys"), entrypoint="demo.noop", params={"n": 1}, issue_id="81")
    by_check, _ = job_submit(actor=Actor.cli("deploys"), entrypoint="demo.noop", params={"n": 2}, issue_id="#82")

    page = console_page("operator")
    page.goto("/approvals/")
    expect(page.locator(f'tr[data-job="{by_poll.id}"]')).to_contain_text("#81")
    expect(page.locator(f'tr[data-job="{by_check.id}"]')).to_be_visible()

    # An approver labels the issues on GitHub (any case): the watcher's next tick
    # sees the first; an operator's force check from the console sees the second.
    fake_github.label(polled.number, "Approved", by="alice")
    approvals_poll()
    fake_github.label(checked.number, "LGTM", by="alice")
    page.locator(f'tr[data-job="{by_check.id}"]').get_by_role("button", name="Force check").click()
    expect(page.locator(".flash-success")).to_contain_text("the issue is approved; the job is queued")
    expect(page.locator(f'tr[data-job="{by_poll.id}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-job="{by_check.id}"]')).to_have_count(0)

    for job in (by_poll, by_check):
        page.goto(f"/jobs/{job.id}/")
        expect(page.locator("dl.fields")).to_contain_text("github:alice")
        job.refresh_from_db()
        assert (job.status, job.approved_by) == (Status.QUEUED, "github:alice")

    auditor = console_page("auditor")
    auditor.goto("/audit/?action=job.approve&actor=github:alice")
    rows = auditor.locator('#audit-results tr[data-action="job.approve"]')
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("github:alice")
    expect(rows.first).to_contain_text("github")
    expect(auditor.locator("#verification")).to_have_attribute("data-chain", "ok")


@pytest.mark.parametrize("where", ["approvals", "job"])
def test_it_shows_in_the_page_that_a_force_check_could_not_ask_github_when_it_is_down(
    console_page,  # noqa: F811
    fake_github,
    where,
):
    fake_github.add_issue(83)
    job, _ = job_submit(actor=Actor.cli("deploys"), entrypoint="demo.noop", params={"n": 3}, issue_id="83")
    page = console_page("operator")
    path = "/approvals/" if where == "approvals" else f"/jobs/{job.id}/"
    page.goto(path)
    fake_github.stop()  # GitHub goes down

    button = "Force check" if where == "approvals" else "Force approval check"
    page.get_by_role("button", name=button).click()
    # The error shows above the page the operator was on, which stays in place.
    expect(page.locator("#htmx-error")).to_contain_text("GitHub could not be asked")
    expect(page.locator("#htmx-error .error-box")).to_have_attribute("data-status", "503")
    # The browser notes the 503 it was answered; that is the answer, not a fault of the page.
    answered = "console.error: Failed to load resource: the server responded with a status of 503"
    page.problems[:] = [problem for problem in page.problems if not problem.startswith(answered)]
    assert page.url.endswith(path)
    expect(page.get_by_role("button", name=button)).to_be_visible()
    job.refresh_from_db()
    assert job.status == Status.WAITING_APPROVAL
