"""Bulk actions ask first: how many jobs or entries, by entry point, then a typed reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import AuditEntry, DLQEntry, Job, Priority, Status
from tests.support.console import login, make_dlq_entry, make_job, previewed


def test_it_asks_before_canceling_low_priority_jobs(client, users):
    low = [make_job(priority=Priority.LOW, entrypoint="demo.sleep") for _ in range(2)]
    low.append(make_job(priority=Priority.LOW, entrypoint="demo.noop"))
    make_job(priority=Priority.HIGH, entrypoint="demo.noop")
    operator = login(client, users["operator"])
    url = reverse("jobs:queue-cancel-low-priority")

    first = operator.post(url, {"reason": "Backpressure relief"})
    assert first.status_code == 200
    assert "3 jobs will be canceled" in first.text
    assert '<tr data-entrypoint="demo.sleep"><td>demo.sleep</td><td class="num">2</td></tr>' in first.text
    assert '<tr data-entrypoint="demo.noop"><td>demo.noop</td><td class="num">1</td></tr>' in first.text
    assert Job.objects.filter(status=Status.CANCELED).count() == 0  # the first click changes nothing
    assert not AuditEntry.objects.filter(action="queue.cancel_low_priority").exists()

    token = previewed("queue.cancel_low_priority")
    assert f'name="previewed" value="{token}"' in first.text
    assert "required" in first.text.split('name="reason"')[1].split(">")[0]
    assert operator.post(url, {"previewed": token}).status_code == 400  # no reason, nothing done
    done = operator.post(url, {"previewed": token, "reason": "incident 42"}, follow=True)
    assert "Canceled 3 low-priority jobs." in done.text
    assert set(Job.objects.filter(id__in=[j.id for j in low]).values_list("status", flat=True)) == {Status.CANCELED}
    assert Job.objects.get(priority=Priority.HIGH).status == Status.QUEUED


def test_it_shows_the_new_numbers_instead_of_acting_when_they_changed(client, users):
    make_job(priority=Priority.LOW)
    operator = login(client, users["operator"])
    token = previewed("queue.cancel_low_priority")
    late = make_job(priority=Priority.LOW, entrypoint="demo.sleep")  # queued after the operator looked
    response = operator.post(reverse("jobs:queue-cancel-low-priority"), {"previewed": token, "reason": "relief"})
    assert response.status_code == 409
    assert "changed since you looked" in response.text and "2 jobs will be canceled" in response.text
    assert Job.objects.get(id=late.id).status == Status.QUEUED
    assert not Job.objects.filter(status=Status.CANCELED).exists()


@pytest.mark.parametrize(
    ("url_name", "action", "role", "data", "summary"),
    [
        ("jobs:dlq-clean-expired", "dlq.clean_expired", "operator", {}, "1 DLQ entry will be removed"),
        ("jobs:dlq-clear", "dlq.clear", "admin", {"confirm": "clear the dlq"}, "2 DLQ entries will be removed"),
        ("jobs:dlq-retry-all", "dlq.retry_all", "operator", {}, "2 DLQ entries will be retried"),
        (
            "jobs:emergency-force-fail-running",
            "emergency.force_fail_running",
            "admin",
            {"confirm": "force fail running"},
            "1 job will be force-failed",
        ),
        (
            "jobs:emergency-clear-all",
            "emergency.clear_all",
            "admin",
            {"confirm": "clear all jobs"},
            "4 jobs will be deleted",
        ),
    ],
)
def test_it_previews_every_bulk_action_and_does_nothing_on_the_first_click(
    client, users, url_name, action, role, data, summary
):
    old = make_dlq_entry(entrypoint="demo.fail")
    DLQEntry.objects.filter(job_id=old.job_id).update(added_at=timezone.now() - timedelta(days=40))
    make_dlq_entry(entrypoint="demo.flaky")
    make_job(status=Status.RUNNING, entrypoint="demo.sleep")
    make_job()
    before = (list(Job.objects.values_list("id", "status")), DLQEntry.objects.count(), AuditEntry.objects.count())
    response = login(client, users[role]).post(reverse(url_name), {"reason": "typed", **data})
    assert response.status_code == 200
    assert summary in response.text
    assert 'data-entrypoint="' in response.text
    assert f'name="previewed" value="{previewed(action)}"' in response.text
    # A reason is asked for where the action keeps one (clean-expired takes none at any door).
    assert ('name="reason"' in response.text) == (action != "dlq.clean_expired")
    after = (list(Job.objects.values_list("id", "status")), DLQEntry.objects.count(), AuditEntry.objects.count())
    assert after == before


def test_it_previews_the_selected_jobs_and_carries_them_to_the_confirmation(client, users):
    chosen = [make_job(entrypoint="demo.sleep"), make_job(entrypoint="demo.noop")]
    ended = make_job(status=Status.SUCCEEDED)
    ids = [str(j.id) for j in chosen] + [str(ended.id)]
    response = login(client, users["operator"]).post(reverse("jobs:jobs-cancel"), {"ids": ids, "reason": "twice"})
    assert "2 jobs will be canceled" in response.text
    assert all(f'name="ids" value="{i}"' in response.text for i in ids)
    assert 'value="twice"' in response.text  # what the operator typed on the list, not a default
    assert not Job.objects.filter(status=Status.CANCELED).exists()


def test_it_refuses_the_preview_to_a_role_without_the_permission(client, users):
    make_job(priority=Priority.LOW)
    response = login(client, users["viewer"]).post(reverse("jobs:queue-cancel-low-priority"))
    assert response.status_code == 403
    assert AuditEntry.objects.filter(action="queue.cancel_low_priority", outcome="denied").count() == 1


def test_it_answers_the_confirmation_step_into_the_htmx_target(client, users):
    make_dlq_entry()
    response = login(client, users["operator"]).post(
        reverse("jobs:dlq-retry-all"), headers={"HX-Request": "true", "HX-Target": "operation"}
    )
    assert "<html" not in response.text
    assert 'hx-target="#operation"' in response.text and "1 DLQ entry will be retried" in response.text
