"""The console on a phone (390 x 844): a compact menu, and every action within reach."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import Status
from tests.support.browser import screenshot
from tests.support.console import live_worker, make_dlq_entry, make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def inside_the_screen(box) -> bool:
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_it_fits_the_approvals_page_on_a_phone(console_page):
    for issue in ("118", "121"):
        make_job(status=Status.WAITING_APPROVAL, entrypoint="deploy.production", issue_id=issue, submitted_by="alice")
    make_dlq_entry("TimeoutError: upstream call timed out after 30s")
    live_worker()
    page = console_page("admin")  # the longest menu
    page.set_viewport_size(PHONE)
    page.goto("/approvals/")
    header = page.locator("header.topbar").bounding_box()
    assert header is not None and header["height"] < 120, header
    row = page.locator("#approvals-live tbody tr").first
    for name in ("Approve", "Reject"):
        button = row.get_by_role("button", name=name)
        expect(button).to_be_visible()
        assert inside_the_screen(button.bounding_box()), (name, button.bounding_box())
    # Nothing is wider than the screen: no sideways scrolling to reach a button.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "approvals-phone")
    # The menu opens without JavaScript and leads to every page.
    page.get_by_text("Menu").click()
    expect(page.get_by_role("link", name="Emergency")).to_be_visible()
    screenshot(page, "menu-phone")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#dashboard-live")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "dashboard-phone")
    page.goto("/dlq/")
    retry = page.locator("#dlq-entries tbody tr").first.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    assert inside_the_screen(retry.bounding_box()), retry.bounding_box()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
