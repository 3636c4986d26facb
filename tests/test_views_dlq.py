"""The DLQ page: entries, groups, retry one / group / all, progress, clear, clean expired."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import AuditEntry, BackgroundOperation, DLQEntry, Job
from jobs.services.operations import operation_run
from tests.support.console import login, make_dlq_entry, post_confirmed


@pytest.fixture
def operator(client, users):
    return login(client, users["operator"])


def test_it_lists_entries_with_the_runbook_fields(operator):
    entry = make_dlq_entry("ValueError: bad region 'mars'", entrypoint="demo.fail")
    page = operator.get(reverse("jobs:dlq-list")).text
    for text in (str(entry.job_id)[:8], "demo.fail", "Max attempts reached", "ValueError: bad region", ">3<"):
        assert text in page


def test_it_groups_entries_by_error_fingerprint(operator):
    for i in range(3):
        make_dlq_entry(f"TimeoutError: call {i} timed out after {i * 10}s")
    make_dlq_entry("PermissionError: token revoked")
    response = operator.get(reverse("jobs:dlq-list"), {"view": "groups"})
    counts = sorted(group["count"] for group in response.context["groups"])
    assert counts == [1, 3]


def test_it_retries_one_entry_as_a_new_job(operator):
    entry = make_dlq_entry()
    response = operator.post(reverse("jobs:dlq-retry", args=[entry.job_id]), follow=True)
    new = Job.objects.get(retried_from_id=entry.job_id)
    assert f"Retried job {entry.job_id} as new job {new.id}." in response.text
    assert not DLQEntry.objects.filter(job_id=entry.job_id).exists()


def test_it_answers_404_when_the_entry_is_gone(operator):
    missing = uuid.uuid4()
    response = operator.post(reverse("jobs:dlq-retry", args=[missing]))
    assert response.status_code == 404
    assert f"job {missing} is not in the DLQ" in response.text


def test_it_starts_retry_all_and_polls_the_progress_until_done(operator):
    entries = [make_dlq_entry() for _ in range(3)]
    started = post_confirmed(
        operator, reverse("jobs:dlq-retry-all"), {"reason": "recovered"}, headers={"HX-Request": "true"}
    )
    operation = BackgroundOperation.objects.get()
    assert 'data-poll="700"' in started.text and 'value="0"' in started.text
    operation_run(operation.id)  # what the worker does (browser tests run it in a real one)
    done = operator.get(reverse("jobs:operation-detail", args=[operation.id]), headers={"HX-Request": "true"})
    assert 'value="100"' in done.text and "3 of 3 entries" in done.text
    assert "data-poll" not in done.text  # polling stops
    assert "dlq-changed" in done["HX-Trigger"]
    assert Job.objects.filter(retried_from__in=[e.job for e in entries]).count() == 3


def test_it_shows_the_progress_page_without_javascript(operator):
    make_dlq_entry()
    response = post_confirmed(operator, reverse("jobs:dlq-retry-group", args=[DLQEntry.objects.get().fingerprint]))
    operation = BackgroundOperation.objects.get()
    assert operation.kind == "dlq.retry_group"
    assert response["Location"] == reverse("jobs:operation-detail", args=[operation.id])


def test_it_clears_only_with_the_typed_confirmation_and_a_reason(client, users):
    make_dlq_entry()
    login(client, users["admin"])
    refused = post_confirmed(client, reverse("jobs:dlq-clear"), {"confirm": "yes", "reason": "r"})
    assert refused.status_code == 400 and "type &quot;clear the dlq&quot; to confirm" in refused.text
    no_reason = post_confirmed(client, reverse("jobs:dlq-clear"), {"confirm": "clear the dlq"})
    assert no_reason.status_code == 400 and "reason: required" in no_reason.text
    assert DLQEntry.objects.count() == 1
    cleared = post_confirmed(
        client, reverse("jobs:dlq-clear"), {"confirm": "clear the dlq", "reason": "known bad"}, follow=True
    )
    assert "Removed 1 DLQ entries; export written to " in cleared.text and DLQEntry.objects.count() == 0


def test_it_cleans_expired_entries(operator):
    old = make_dlq_entry()
    DLQEntry.objects.filter(pk=old.pk).update(added_at=timezone.now() - timedelta(days=31))
    make_dlq_entry()
    response = post_confirmed(operator, reverse("jobs:dlq-clean-expired"), follow=True)
    assert "Removed 1 expired DLQ entries." in response.text
    assert DLQEntry.objects.count() == 1


def test_it_says_what_to_do_when_the_dlq_is_empty(operator):
    assert "The DLQ is empty." in operator.get(reverse("jobs:dlq-list")).text


def test_it_discards_one_entry_keeping_the_job_failed_and_the_entry_in_the_audit_trail(operator):
    entry = make_dlq_entry("ValueError: poisoned input")
    response = operator.post(reverse("jobs:dlq-discard", args=[entry.job_id]), {"reason": "bad data"}, follow=True)
    assert f"Discarded job {entry.job_id} from the DLQ; it stays failed." in response.text
    assert not DLQEntry.objects.filter(job_id=entry.job_id).exists()
    assert Job.objects.get(id=entry.job_id).status == "failed"
    audited = AuditEntry.objects.get(action="dlq.discard")
    assert (audited.reason, audited.before["lastError"]) == ("bad data", "ValueError: poisoned input")


def test_it_refreshes_the_retry_all_box_and_a_retry_all_under_way_with_its_entries(operator, users):
    make_dlq_entry("TimeoutError: a")
    make_dlq_entry("TimeoutError: b")
    running = BackgroundOperation.objects.create(kind="dlq.retry_all", state="running", total=5, done=3)
    region = operator.get(reverse("jobs:dlq-list"), headers={"HX-Request": "true"}).text
    assert 'id="dlq-entries"' in region and "<html" not in region
    # Out of band: the count and the button of the Retry all box, and the operation's progress.
    assert '<p id="dlq-retry-summary" class="muted small" hx-swap-oob="true">2 entries.' in region
    assert 'id="dlq-retry-button"' in region and "disabled" not in region.split('id="dlq-retry-button"')[1][:80]
    assert f'id="operation-{running.id}"' in region and "3 of 5 entries" in region
    # The whole page shows the same, in place, without out-of-band markers.
    page = operator.get(reverse("jobs:dlq-list")).text
    assert f'id="operation-{running.id}"' in page and "hx-swap-oob" not in page


def test_it_leaves_out_the_retry_all_box_for_a_viewer_polling(client, users):
    make_dlq_entry("TimeoutError: a")
    region = login(client, users["viewer"]).get(reverse("jobs:dlq-list"), headers={"HX-Request": "true"}).text
    assert 'id="dlq-entries"' in region and "dlq-retry-summary" not in region
