"""An operator stops a running job and sees, on every capacity page, the slot its code still holds.

The job blocks in one C call in a threads-pool worker, which can be interrupted only
when the call returns: until then the job's slot stays held (maxConcurrent holds),
and the backpressure page, the workers page and the dashboard say so.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import Job, Status
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from tests.support import entrypoints
from tests.support.browser import screenshot
from tests.support.processes import process_env, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.workers, pytest.mark.django_db(transaction=True)]


def test_it_shows_the_slot_held_by_a_force_failed_job_until_its_code_stops(console_page, workers, cli):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 1}})
    workers(1, pool="threads", concurrency=2, env=process_env(JOBS_ENTRYPOINT_MODULES=entrypoints.MODULES))
    blocked, _ = job_submit(actor=cli, entrypoint="test.block", params={"seconds": 14})
    page = console_page("admin")
    wait_for(lambda: Job.objects.filter(id=blocked.id, status=Status.RUNNING).exists(), timeout=30)
    queued, _ = job_submit(actor=cli, entrypoint="demo.noop")

    page.goto(f"/jobs/{blocked.id}/")
    page.fill("input[aria-label='Reason to force-fail']", "stuck on a dead upstream")
    page.get_by_role("button", name="Force-fail", exact=True).click()
    wait_for(lambda: Job.objects.get(id=blocked.id).status == Status.FAILED, timeout=10, message="force-failed")

    page.goto("/backpressure/")
    expect(page.locator("[data-stat=running]")).to_have_text("0")
    expect(page.locator("[data-stat=stopping]")).to_have_text("1")
    expect(page.locator("[data-stopping]")).to_contain_text("1 of 1 slot held by job still stopping")
    screenshot(page, "backpressure-stopping")
    page.goto("/workers/")
    expect(page.locator("[data-stopping]")).to_contain_text("1 of 1 slot held by job still stopping")
    expect(page.locator("[data-worker-stopping]")).to_have_text("stopping 1")
    page.goto("/")
    expect(page.locator("[data-stopping]")).to_contain_text("still stopping")
    assert Job.objects.get(id=queued.id).status == Status.QUEUED, "the slot is not given away while the code runs"

    wait_for(
        lambda: Job.objects.get(id=queued.id).status == Status.SUCCEEDED,
        timeout=30,
        message="the queued job ran once the blocked call returned",
    )
    page.goto("/backpressure/")
    expect(page.locator("[data-stat=stopping]")).to_have_text("0")
    expect(page.locator("[data-stopping]")).to_have_count(0)
