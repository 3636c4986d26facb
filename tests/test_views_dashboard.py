"""The dashboard: Key Metrics levels at the runbook's thresholds, counts, throughput."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Event, Status
from jobs.views.dashboard import key_metrics
from tests.support.console import live_worker, login, make_dlq_entry, make_job


def _health(utilization=0.0, dlq=0, backpressure=False, uptime=0, running=True):
    return {
        "data": {
            "jobs": {
                "queue": {"utilizationPercent": utilization, "dlq": dlq, "backpressureActive": backpressure},
                "worker": {"uptimeMs": uptime, "running": running},
            }
        }
    }


@pytest.mark.parametrize(
    ("health", "levels"),
    [
        (_health(69.9, 0, False, 1), ["healthy", "healthy", "healthy", "healthy"]),
        (_health(70, 1, False, 1), ["warning", "warning", "healthy", "healthy"]),
        (_health(90, 10, False, 1), ["warning", "warning", "healthy", "healthy"]),
        (_health(90.1, 11, True, 0), ["critical", "critical", "critical", "critical"]),
        (_health(10, 0, False, 5000, running=False), ["healthy", "healthy", "healthy", "critical"]),
    ],
)
def test_it_colours_key_metrics_at_the_runbook_thresholds(health, levels):
    assert [m["level"] for m in key_metrics(health)] == levels


def test_it_links_each_metric_to_the_page_that_helps():
    urls = [m["url"] for m in key_metrics(_health())]
    assert urls == [
        reverse("jobs:backpressure"),
        reverse("jobs:dlq-list"),
        reverse("jobs:backpressure"),
        reverse("jobs:worker-list"),
    ]


def test_it_shows_counts_and_throughput(client, users):
    for status in (Status.QUEUED, Status.QUEUED, Status.RUNNING):
        make_job(status=status)
    make_dlq_entry()
    now = timezone.now()
    for _ in range(4):
        Event.objects.create(type="job:succeeded", created_at=now)
    Event.objects.create(type="job:failed", created_at=now)
    response = login(client, users["viewer"]).get(reverse("jobs:dashboard"))
    assert response.context["store"]["queued"] == 2
    assert response.context["chart"]["total"] == 5
    assert "4 succeeded, 1 failed" in response.text  # the last minute's bar, as its tooltip reads
    assert 'class="ok"' in response.text and 'class="fail"' in response.text
    assert 'data-poll="5000"' in response.text  # refreshes while visible (jobs/static/jobs/console.js)


def test_it_says_what_to_do_before_any_job_ran(client, users):
    assert "No jobs finished in the last hour." in login(client, users["viewer"]).get(reverse("jobs:dashboard")).text


def test_it_says_when_github_approvals_are_off(client, users, settings):
    settings.JOBS_GITHUB_TOKEN = ""
    response = login(client, users["viewer"]).get(reverse("jobs:dashboard"))
    assert "GitHub approvals are off: set GITHUB_TOKEN and GITHUB_REPO" in response.text


def test_it_says_which_repository_the_watcher_watches(client, users, settings):
    settings.JOBS_GITHUB_TOKEN = "t"
    settings.JOBS_GITHUB_REPO = "acme/ops"
    response = login(client, users["viewer"]).get(reverse("jobs:dashboard"))
    assert "Watching acme/ops; not polled yet." in response.text


@pytest.mark.django_db
def test_the_banner_follows_the_worker_card_when_nothing_can_run(client, users):
    make_job(status=Status.QUEUED)
    login(client, users["viewer"])

    nobody = client.get(reverse("jobs:dashboard")).text
    assert "No worker alive: 1 queued jobs cannot run" in nobody

    live_worker()
    assert "No worker alive" not in client.get(reverse("jobs:dashboard")).text
