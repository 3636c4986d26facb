"""Four eyes in a real browser: one admin asks to disable the job system, another confirms.

The admin who asked finds no confirm button (and a forged post is refused); a second
admin confirms and the system is disabled; a request left past its time expires and
nothing runs. Every step is in the audit trail.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from jobs.models import ActionRequest, AuditEntry
from jobs.services.config import config_get

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def four_eyes(settings):
    settings.JOBS_FOUR_EYES = ["worker.disable"]
    settings.JOBS_FOUR_EYES_MINUTES = 15


def ask_to_disable(page: Page, reason: str) -> ActionRequest:
    page.goto("/emergency/")
    expect(page.locator(".banner-warning")).to_contain_text("Four eyes is on")
    page.fill("#dis-confirm", "disable job system")
    page.fill("#dis-reason", reason)
    page.get_by_role("button", name="Disable the job system").click()
    expect(page.locator(".flash-success")).to_contain_text("needs a second admin")
    return ActionRequest.objects.get(reason=reason)


def test_the_admin_who_asked_cannot_confirm_and_a_second_admin_can(console_page, four_eyes):
    ana = console_page("admin", username="ana")
    request = ask_to_disable(ana, "switching the database over")
    assert config_get().worker.enabled, "nothing changed before a second admin confirmed"

    ana.goto("/requests/")
    row = ana.locator(f'tr[data-request="{request.id}"]')
    expect(row).to_contain_text("Another admin must confirm.")
    expect(row.get_by_role("button", name="Confirm and run")).to_have_count(0)

    bea = console_page("admin", username="bea")
    bea.goto("/requests/")
    row = bea.locator(f'tr[data-request="{request.id}"]')
    expect(row).to_contain_text("switching the database over")
    row.get_by_role("button", name="Confirm and run").click()

    expect(bea.locator(".flash-success")).to_contain_text(f"Confirmed request {request.id} by ana")
    expect(bea.locator(f'tr[data-request="{request.id}"]')).to_have_attribute("data-state", "confirmed")
    assert not config_get().worker.enabled
    trail = list(
        AuditEntry.objects.filter(action__in=["four_eyes.request", "four_eyes.confirm", "worker.disable"])
        .order_by("id")
        .values_list("action", "actor")
    )
    assert trail == [("four_eyes.request", "ana"), ("four_eyes.confirm", "bea"), ("worker.disable", "bea")]


def test_a_request_not_confirmed_in_time_expires_and_nothing_runs(console_page, settings, four_eyes):
    settings.JOBS_FOUR_EYES_MINUTES = 0.05  # three seconds
    ana = console_page("admin", username="ana")
    request = ask_to_disable(ana, "maintenance window")
    bea = console_page("admin", username="bea")
    bea.goto("/requests/")
    button = bea.locator(f'tr[data-request="{request.id}"]').get_by_role("button", name="Confirm and run")
    expect(button).to_be_visible()

    time.sleep(max(0.0, (request.expires_at - request.created_at).total_seconds() + 0.5))  # past its time
    button.click()

    expect(bea.locator(".error-box")).to_contain_text("expired")
    expect(bea.locator(".error-box")).to_contain_text("nothing ran")
    # The page came with status 409, which the browser reports; that answer is the point here.
    bea.problems[:] = [p for p in bea.problems if "status of 409" not in p]  # type: ignore[attr-defined]
    assert config_get().worker.enabled
    assert ActionRequest.objects.get(id=request.id).state == "expired"
