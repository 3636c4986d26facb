"""Every page renders for a viewer, with and without htmx, and answers 405 to a POST."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Status
from tests.support.console import login, make_dlq_entry, make_job

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
    assert response["Location"].startswith(reverse("login"))
