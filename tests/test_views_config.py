"""Configuration, capacity and the job system switch: admin only, validated, audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import AuditEntry
from jobs.services.config import config_get


@pytest.fixture
def admin(client, users):
    return client.force_login(users["admin"]) or client


def _form(**changes) -> dict:
    """The configuration form as the page posts it, with some fields changed."""
    data: dict = {"switches": []}
    for section, model in config_get():
        for name, value in model:
            if isinstance(value, bool):
                data["switches"].append(f"{section}.{name}")
                if value:
                    data[f"{section}.{name}"] = "on"
            elif isinstance(value, list):
                data[f"{section}.{name}"] = ", ".join(value)
            else:
                data[f"{section}.{name}"] = str(value)
    data.update(changes)
    return data


def test_it_shows_every_setting(admin):
    page = admin.get(reverse("jobs:config")).text
    for name in (
        "maxConcurrent",
        "maxQueueSize",
        "backpressureThreshold",
        "retentionDays",
        "defaultTtlHours",
        "labels",
    ):
        assert name in page


def test_it_saves_only_what_changed(admin):
    response = admin.post(
        reverse("jobs:config-update"), _form(**{"dlq.retentionDays": "7", "reason": "disk"}), follow=True
    )
    assert "Configuration saved (dlq)." in response.text
    assert config_get().dlq.retentionDays == 7
    entry = AuditEntry.objects.latest("id")
    assert (entry.action, entry.before, entry.after) == (
        "config.update",
        {"dlq": {"retentionDays": 30.0}},
        {"dlq": {"retentionDays": 7.0}},
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("queue.maxConcurrent", "0", "Input should be greater than or equal to 1"),
        ("queue.maxQueueSize", "many", "must be a number"),
        ("approval.labels", " , ", "labels must not be empty strings"),
        ("approval.labels", "approved, ok\x00", "must not contain NUL characters"),
    ],
)
def test_it_shows_the_validation_message_next_to_the_field(admin, field, value, message):
    before = AuditEntry.objects.count()
    response = admin.post(reverse("jobs:config-update"), _form(**{field: value}))
    assert response.status_code == 400
    assert field in response.text and message in response.text
    assert 'class="field field-error"' in response.text
    assert AuditEntry.objects.count() == before
    assert config_get().queue.maxConcurrent == 3


def test_a_partial_post_changes_only_the_fields_it_carries(admin):
    response = admin.post(reverse("jobs:config-update"), {"queue.maxConcurrent": "5", "reason": "more room"})

    assert response.status_code == 302
    cfg = config_get()
    assert (cfg.queue.maxConcurrent, cfg.worker.enabled, cfg.dlq.enabled) == (5, True, True)
    assert admin.post(reverse("jobs:config-update"), {}).status_code == 400  # nothing changed
    assert config_get().worker.enabled is True


def test_it_says_when_nothing_changed(admin):
    response = admin.post(reverse("jobs:config-update"), _form())
    assert response.status_code == 400 and "nothing changed" in response.text


def test_it_sets_capacity_from_the_backpressure_page(admin):
    response = admin.post(reverse("jobs:capacity-update"), {"maxConcurrent": 5, "maxQueueSize": 200}, follow=True)
    assert "Capacity set: maxConcurrent 5, maxQueueSize 200." in response.text
    refused = admin.post(reverse("jobs:capacity-update"), {"maxConcurrent": 0, "maxQueueSize": 200})
    assert refused.status_code == 400 and "queue.maxConcurrent" in refused.text
    assert config_get().queue.maxConcurrent == 5


def test_it_disables_and_enables_the_job_system(admin):
    page = admin.get(reverse("jobs:worker-list")).text
    assert 'Type "disable job system"' in page  # the workers page asks for the same phrase as the emergency page
    disable = {"reason": "maintenance", "confirm": "disable job system"}
    assert admin.post(reverse("jobs:emergency-disable"), {"reason": "maintenance"}).status_code == 400
    admin.post(reverse("jobs:emergency-disable"), disable)
    assert config_get().worker.enabled is False
    assert "The job system is disabled." in admin.get(reverse("jobs:worker-list")).text
    assert admin.post(reverse("jobs:worker-enable"), {}).status_code == 400  # reason
    admin.post(reverse("jobs:worker-enable"), {"reason": "done"})
    assert config_get().worker.enabled is True


def test_it_runs_emergency_actions_only_with_their_phrase(admin):
    url = reverse("jobs:emergency-disable")
    assert admin.post(url, {"confirm": "disable", "reason": "incident"}).status_code == 400
    assert config_get().worker.enabled is True
    admin.post(url, {"confirm": "disable job system", "reason": "incident"})
    assert config_get().worker.enabled is False
