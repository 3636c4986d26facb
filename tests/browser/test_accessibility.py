"""Every console page, light and dark, has no WCAG 2 A or AA violation that axe-core finds.

axe-core comes bundled in axe-playwright-python; it runs inside the page (Playwright's
evaluate is not subject to the page's CSP). Every AA rule is reported, contrast among them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page

from jobs.models import BackgroundOperation, Event, Status
from jobs.services.audit import Actor
from jobs.services.bulk import bulk_freeze
from tests.support.browser import open_page, sign_in
from tests.support.console import live_worker, make_dlq_entry, make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}


def violations(page: Page, name: str) -> list[str]:
    """One line per rule broken on the page, with the elements that break it."""
    page.wait_for_load_state("networkidle")
    found = Axe().run(page, options=WCAG_A_AA).response["violations"]
    return [
        f"{name}: {v['id']} ({v['impact']}): {v['help']}"
        + "".join(f"\n    {' '.join(node['target'])}: {node['failureSummary']}" for node in v["nodes"][:8])
        for v in found
    ]


def world() -> dict:
    now = timezone.now()
    failed = make_job(
        status=Status.FAILED,
        attempts=3,
        last_error="TimeoutError: upstream call timed out",
        last_traceback='Traceback (most recent call last):\n  File "x.py", line 1\nTimeoutError',
        completed_at=now,
    )
    Event.objects.create(type="job:started", job_id=failed.id, data={"worker": "w1@ops-1:1", "attempt": 1})
    Event.objects.create(type="job:failed", job_id=failed.id, data={"error": "TimeoutError: upstream call timed out"})
    entries = [make_dlq_entry(f"ConnectionError: refused {i}", entrypoint="billing.sync") for i in range(3)]
    make_job(status=Status.RUNNING, worker="w1@ops-1:1", started_at=now)
    make_job(status=Status.SUCCEEDED, completed_at=now)
    make_job(status=Status.CANCELED, status_reason="duplicate")
    make_job(status=Status.WAITING_APPROVAL, issue_id="118", submitted_by="alice")
    make_job(
        status=Status.WAITING_APPROVAL,
        issue_id="121",
        submitted_by="alice",
        approval_expires_at=now + timedelta(minutes=20),
    )
    live_worker()
    operation = BackgroundOperation.objects.create(
        kind="dlq.retry_all", state="done", total=3, done=3, result={"retried": 3}, requested_by="operator"
    )
    return {"job": failed, "operation": operation, "entry": entries[0]}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_it_has_no_wcag_a_or_aa_violation_on_any_page(console_page, browser, live_server, scheme):
    data = world()
    pages = [
        ("/", "dashboard"),
        ("/jobs/", "jobs"),
        (f"/jobs/{data['job'].id}/", "job detail"),
        ("/dlq/", "dlq"),
        ("/dlq/?view=groups", "dlq groups"),
        (f"/operations/{data['operation'].id}/", "operation"),
        ("/backpressure/", "backpressure"),
        ("/approvals/", "approvals"),
        ("/workers/", "workers"),
        ("/events/", "events"),
        ("/history/", "history"),
        ("/incident/", "incident timeline"),
        (f"/dlq/{data['entry'].job_id}/retry-edited", "retry with edited params"),
        ("/audit/", "audit"),
        ("/config/", "config"),
        ("/emergency/", "emergency"),
    ]
    found: list[str] = []
    admin = console_page("admin", color_scheme=scheme)
    for url, name in pages:
        admin.goto(url)
        found += violations(admin, name)
    # A bulk action's dry run on a filter, with its Run form.
    selection = bulk_freeze(actor=Actor.cli("admin"), action="cancel", filters={})
    admin.goto(f"/jobs/bulk/{selection.id}/")
    found += violations(admin, "bulk dry run")
    # A bulk action's confirmation step.
    admin.goto("/dlq/")
    admin.get_by_role("button", name="Clear DLQ…").click()
    admin.wait_for_url("**/dlq/clear")
    found += violations(admin, "confirm clearing the DLQ")
    # A phone: the folded menu, open, over the approvals as cards.
    admin.set_viewport_size({"width": 390, "height": 844})
    admin.goto("/approvals/")
    admin.get_by_text("Menu").click()
    found += violations(admin, "approvals on a phone, menu open")
    auditor = console_page("auditor", color_scheme=scheme)
    auditor.goto("/audit/")
    found += violations(auditor, "audit (auditor)")
    # Pages of no signed-in console page: sign-in, and the refusal (a 403, which the
    # browser reports as a failed load, so not on a console_page).
    visitor = open_page(browser, live_server.url, color_scheme=scheme)
    visitor.goto("/login/")
    found += violations(visitor, "login")
    sign_in(visitor, "auditor")
    visitor.goto("/emergency/")
    found += violations(visitor, "forbidden")
    visitor.context.close()
    assert not found, f"{len(found)} WCAG A/AA violations ({scheme}):\n" + "\n".join(found)
