"""The incident timeline of a scripted incident, read by a viewer in a real browser.

The incident runs in this process (a burst of failures, a retry-all by an
operator, an approval); the viewer picks its window in the form and reads the
rows in the order they happened, loads the rest, and finds the jobs involved.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import screenshot
from tests.support.incident import BURST, script_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_shows_the_incident_timeline_of_a_scripted_incident_in_the_right_order(console_page, users):
    incident = script_incident(operator=users["operator"], approver=users["approver"])
    page = console_page("viewer")
    page.goto("/")
    page.get_by_role("navigation", name="Main").first.get_by_role("link", name="Timeline").click()
    expect(page.locator("h1")).to_have_text("Incident timeline")

    # The window around the incident, as an operator types it (UTC, to the second).
    page.fill("#tl-since", incident.since.strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("#tl-until", incident.until.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"since="))
    # Pages of 30 rows (50 by default), so that the rest comes with "Load more".
    page.goto(page.url + "&limit=30")
    rows = page.locator("#timeline-rows tr.timeline-row")
    expect(rows).to_have_count(30)
    loads = 0
    while page.locator("#timeline-more a").count():
        shown = rows.count()
        page.locator("#timeline-more a").click()
        expect(rows).not_to_have_count(shown)
        loads += 1
    assert loads >= 2
    expect(page.locator("#timeline")).to_contain_text("End of the window")

    what = [(r.get_attribute("data-kind"), r.get_attribute("data-what")) for r in rows.all()]
    operator_actions = [w for k, w in what if k == "action" and w in ("dlq.retry_all", "job.approve")]
    assert operator_actions == ["dlq.retry_all", "job.approve"]

    def at(item) -> int:
        return what.index(item)

    health = [i for i, w in enumerate(what) if w[0] == "health"]
    assert len(health) == 3
    first_failure = at(("event", "job:failed"))
    assert health[0] < first_failure < health[1] < at(("action", "dlq.retry_all")) < health[2]
    assert health[2] < at(("event", "job:approved")) < at(("action", "job.approve"))
    assert what.count(("event", "job:failed")) == BURST

    degraded = rows.nth(health[1])
    expect(degraded).to_contain_text("health: healthy → degraded")
    expect(degraded).to_contain_text(f"DLQ has {BURST} entries")
    retry_all = rows.nth(at(("action", "dlq.retry_all")))
    expect(retry_all).to_contain_text("operator")
    expect(retry_all).to_contain_text("upstream fixed")
    expect(retry_all).to_contain_text(f"and {BURST - 5} more")

    involved = page.locator("#jobs-involved")
    expect(page.locator("#timeline")).to_contain_text(f"{2 * BURST + 1} jobs")
    approved = involved.locator(f'tr[data-job="{incident.approved.id}"]')
    expect(approved).to_contain_text("demo.noop")
    expect(approved).to_contain_text("queued")
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute("href", re.compile(r"format=csv"))
    screenshot(page, "incident-timeline")

    approved.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text(str(incident.approved.id)[:8])
