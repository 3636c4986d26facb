"""Retry with edited params in a real browser, and the auditor reading what changed.

An operator opens a failed job from the DLQ, fixes a mistyped customer id in its
params, gives a reason and retries; the new job runs on a real worker with the new
params while the old one keeps its own; an auditor finds the retry in the trail
with the change path by path.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from jobs.models import Job, Status
from jobs.services.audit import Actor
from jobs.services.lifecycle import job_force_fail
from jobs.services.submission import job_submit
from tests.support.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OLD = {"customer": {"id": "C-17x", "region": "eu"}, "amount": 12}


@pytest.mark.workers
def test_an_operator_fixes_params_and_an_auditor_sees_the_diff(console_page, workers):
    job, _ = job_submit(actor=Actor.cli("tests"), entrypoint="demo.noop", params=OLD)
    job_force_fail(actor=Actor.cli("tests"), job_id=job.id, reason="customer C-17x does not exist")
    workers(1)

    page = console_page("operator")
    page.goto(f"/jobs/{job.id}/")
    page.get_by_role("link", name="Edit params and retry").click()
    expect(page.locator("h1")).to_have_text("Retry with edited params")
    params = page.locator("#id_params")
    expect(params).to_have_value(json.dumps(OLD, indent=2, sort_keys=True))
    params.fill(json.dumps({"customer": {"id": "C-17", "region": "eu"}, "amount": 12}))
    page.fill("#id_reason", "customer id was mistyped")
    page.get_by_role("button", name="Retry with these params").click()

    expect(page.locator(".flash-success")).to_contain_text("with edited params as new job")
    new = Job.objects.get(retried_from_id=job.id)
    wait_for(lambda: Job.objects.get(id=new.id).status == Status.SUCCEEDED, timeout=30, message="the new job ran")
    assert Job.objects.get(id=job.id).params == OLD, "the failed job keeps its params"

    auditor = console_page("auditor")
    auditor.goto("/audit/?action=dlq.retry_edited")
    row = auditor.locator('#audit-results tr[data-action="dlq.retry_edited"]')
    expect(row).to_contain_text("customer id was mistyped")
    row.locator("summary", has_text="1 change").click()
    changed = row.locator('tr[data-changed="customer.id"]')
    expect(changed).to_contain_text('"C-17x"')
    expect(changed).to_contain_text('"C-17"')
