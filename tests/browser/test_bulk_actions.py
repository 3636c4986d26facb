"""A bulk action on a filter in a real browser: the dry run freezes the jobs and shows them broken down,
then a worker runs exactly that set, whatever matches the filter by then."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobs.models import AuditEntry, BulkSelection, Job, Status
from jobs.services.audit import Actor
from jobs.services.config import config_update
from tests.support.browser import screenshot
from tests.support.console import make_job

pytestmark = [pytest.mark.browser, pytest.mark.workers, pytest.mark.django_db(transaction=True)]


def test_a_bulk_cancel_on_a_filter_shows_the_breakdown_then_cancels_exactly_that_set_while_new_jobs_arrive(
    console_page, workers
):
    # Nothing leaves the queue on its own: what ends, the bulk cancel ended.
    config_update(actor=Actor.cli("tests"), changes={"worker": {"enabled": False}})
    frozen = [make_job(entrypoint="demo.sleep", params={"seconds": 1, "region": "eu"}) for _ in range(5)]
    frozen.append(make_job(entrypoint="demo.sleep", params={"seconds": 1, "region": "eu"}, status=Status.RUNNING))
    other = [make_job(entrypoint="demo.noop") for _ in range(2)]
    workers(1)
    page = console_page("operator")

    page.goto("/jobs/?entrypoint=demo.sleep&params=region%3Deu")
    expect(page.locator("#bulk-action option")).to_have_text(["cancel", "retry from the DLQ"])  # no force-fail
    page.select_option("#bulk-action", "cancel")
    page.get_by_role("button", name="All 6 matching this filter").click()

    selection = page.locator("#bulk-selection")
    expect(selection).to_have_attribute("data-state", "frozen")
    expect(page.locator("[data-frozen-count]")).to_have_attribute("data-frozen-count", "6")
    expect(page.locator('table[aria-label="By entry point"] tr[data-entrypoint="demo.sleep"] td.num')).to_have_text("6")
    expect(page.locator('table[aria-label="By status"] tr[data-status="queued"] td.num')).to_have_text("5")
    expect(page.locator('table[aria-label="By status"] tr[data-status="running"] td.num')).to_have_text("1")
    expect(page.locator('table[aria-label="By error fingerprint"] tbody tr td')).to_have_text(["not in the DLQ", "6"])
    expect(page.locator("[data-effect]")).to_contain_text("Frees 5 queued, 1 running")
    screenshot(page, "bulk-dry-run", full_page=True)

    # Jobs matching the same filter arrive after the freeze: the run must leave them alone.
    arrived = [make_job(entrypoint="demo.sleep", params={"seconds": 1, "region": "eu"}) for _ in range(3)]
    page.fill("#bulk-run-reason", "duplicate submissions")
    page.get_by_role("button", name="Run").click()

    expect(page).to_have_url(re.compile(r"/operations/[0-9a-f-]+/$"))
    expect(page.locator(".operation")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(page.locator("[data-changed]")).to_have_text("6")
    expect(page.locator("[data-skipped]")).to_have_text("0")
    expect(page.locator("[data-progress=done]")).to_contain_text("6 of the 6 frozen jobs canceled")

    assert {job.id for job in Job.objects.filter(status=Status.CANCELED)} == {job.id for job in frozen}
    assert all(Job.objects.get(id=job.id).status == Status.QUEUED for job in arrived + other)
    selection_id = str(BulkSelection.objects.get().id)
    canceled = AuditEntry.objects.filter(action="jobs.bulk_run", object_type="job").values_list("object_ids", flat=True)
    assert sorted(i for ids in canceled for i in ids) == sorted(str(job.id) for job in frozen)
    last = AuditEntry.objects.filter(action="jobs.bulk_run", object_type="selection").latest("id")
    assert (last.object_ids, last.reason, last.after["changed"]) == ([selection_id], "duplicate submissions", 6)
