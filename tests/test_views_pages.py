"""Every page renders for a viewer, with and without htmx, and answers 405 to a POST."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from jobs.models import AuditEntry, Status
from tests.support.console import all_paths, login, make_dlq_entry, make_job

PAGES = [
    ("jobs:dashboard", "viewer", "Key metrics"),
    ("jobs:job-list", "viewer", "Jobs"),
    ("jobs:dlq-list", "viewer", "Dead-letter queue"),
    ("jobs:backpressure", "viewer", "Queue utilization"),
    ("jobs:approval-list", "viewer", "Waiting for approval"),
    ("jobs:worker-list", "viewer", "Workers"),
    ("jobs:event-list", "viewer", "Events"),
    ("jobs:emergency", "admin", "Emergency procedures"),
    ("jobs:audit-list", "auditor", "Audit trail"),
    ("jobs:config", "admin", "Configuration"),
]


@pytest.fixture
def data(db):
    make_job()
    make_job(status=Status.WAITING_APPROVAL, issue_id="12", submitted_by="operator")
    make_dlq_entry()


@pytest.mark.parametrize(("name", "role", "text"), PAGES)
def test_it_renders_each_page(client, users, data, name, role, text):
    response = login(client, users[role]).get(reverse(name))
    assert response.status_code == 200
    assert text in response.text
    assert "<style" not in response.text and " style=" not in response.text


@pytest.mark.parametrize(("name", "role", "text"), PAGES)
def test_it_refuses_post_on_each_page(client, users, name, role, text):
    assert login(client, users[role]).post(reverse(name)).status_code == 405


def test_it_requires_login(client, db):
    response = client.get(reverse("jobs:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("jobs:login"))


PARTIALS = [
    ("jobs:dashboard", "viewer", 'id="dashboard-live"'),
    ("jobs:job-list", "viewer", 'id="job-results"'),
    ("jobs:dlq-list", "viewer", 'id="dlq-entries"'),
    ("jobs:backpressure", "viewer", 'id="queue-live"'),
    ("jobs:approval-list", "viewer", 'id="approvals-live"'),
    ("jobs:worker-list", "viewer", 'id="workers-live"'),
    ("jobs:event-list", "viewer", 'id="event-rows"'),
    ("jobs:audit-list", "auditor", 'id="audit-results"'),
    ("jobs:audit-verify", "auditor", 'id="verification"'),
]


@pytest.mark.parametrize(("name", "role", "marker"), PARTIALS)
def test_it_renders_only_the_region_for_htmx(client, users, data, name, role, marker):
    response = login(client, users[role]).get(reverse(name), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert marker in response.text
    assert "<html" not in response.text and "<nav" not in response.text


def test_it_gives_every_hx_get_link_an_href(client, users, data):
    login(client, users["admin"])
    for name, _, _ in PAGES:
        html = client.get(reverse(name)).text
        for tag in re.findall(r"<a\b[^>]*\bhx-get=[^>]*>", html):
            assert "href=" in tag, f"{name}: {tag}"


POST_ONLY = [
    ("jobs:jobs-cancel", []),
    ("jobs:job-cancel", [uuid.uuid4()]),
    ("jobs:job-force-fail", [uuid.uuid4()]),
    ("jobs:job-approve", [uuid.uuid4()]),
    ("jobs:job-reject", [uuid.uuid4()]),
    ("jobs:job-check-approval", [uuid.uuid4()]),
    ("jobs:dlq-retry", [uuid.uuid4()]),
    ("jobs:dlq-retry-group", ["abc"]),
    ("jobs:dlq-retry-all", []),
    ("jobs:dlq-clear", []),
    ("jobs:dlq-clean-expired", []),
    ("jobs:queue-cancel-low-priority", []),
    ("jobs:capacity-update", []),
    ("jobs:worker-enable", []),
    ("jobs:emergency-force-fail-running", []),
    ("jobs:emergency-clear-all", []),
    ("jobs:emergency-disable", []),
    ("jobs:config-update", []),
]


@pytest.mark.parametrize(("name", "args"), POST_ONLY)
def test_it_refuses_get_on_each_action(client, users, name, args):
    before = AuditEntry.objects.count()
    assert login(client, users["admin"]).get(reverse(name, args=args)).status_code == 405
    assert AuditEntry.objects.count() == before


def test_it_sends_a_strict_csp_and_gives_every_script_the_nonce(client, users, data):
    response = login(client, users["admin"]).get(reverse("jobs:dashboard"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    scripts = re.findall(r"<script\b[^>]*>", response.text)
    assert len(scripts) >= 2  # htmx from django-htmx, and the console's own
    assert all(f'nonce="{nonce}"' in tag and "src=" in tag for tag in scripts)
    assert '"includeIndicatorStyles": false' in response.text and '"allowEval": false' in response.text
    assert " hx-on" not in response.text and "hx-vars" not in response.text


CONSOLE_PATHS = [
    p for p in all_paths() if not p.startswith(("api/", "github/", "login/", "logout/", "django-admin/", "metrics"))
]


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_it_sends_anonymous_visitors_to_the_login_page(client, db, path):
    for method in (client.get, client.post):
        response = method(f"/{path}")
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("jobs:login"))
