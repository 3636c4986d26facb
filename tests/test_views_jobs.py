"""The Jobs page and a job's page: filters, search, keyset pages, bulk cancel, detail, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Event, Priority, Status
from tests.support.console import login, make_job, post_confirmed


@pytest.fixture
def viewer(client, users):
    return login(client, users["viewer"])


def test_it_filters_by_status_priority_and_entrypoint(viewer):
    wanted = make_job(status=Status.FAILED, priority=Priority.LOW, entrypoint="demo.fail")
    make_job(status=Status.FAILED, priority=Priority.HIGH, entrypoint="demo.fail")
    make_job(status=Status.QUEUED, priority=Priority.LOW, entrypoint="demo.fail")
    make_job(status=Status.FAILED, priority=Priority.LOW, entrypoint="demo.noop")
    response = viewer.get(reverse("jobs:job-list"), {"status": "failed", "priority": "low", "entrypoint": "demo.fail"})
    assert [job.id for job in response.context["page"].items] == [wanted.id]


def test_it_searches_id_job_key_and_last_error(viewer):
    by_error = make_job(status=Status.FAILED, last_error="ConnectionResetError: peer reset")
    by_key = make_job(job_key="nightly-report:2026-11-27")
    make_job()
    url = reverse("jobs:job-list")
    assert [j.id for j in viewer.get(url, {"q": "connectionreset"}).context["page"].items] == [by_error.id]
    assert [j.id for j in viewer.get(url, {"q": "nightly-report"}).context["page"].items] == [by_key.id]
    assert [j.id for j in viewer.get(url, {"q": str(by_key.id)}).context["page"].items] == [by_key.id]


def test_it_pages_with_a_cursor(viewer):
    jobs = [make_job() for _ in range(5)]
    url = reverse("jobs:job-list")
    first = viewer.get(url, {"limit": 3})
    assert len(first.context["page"].items) == 3
    second = viewer.get(url, {"limit": 3, "cursor": first.context["page"].next_cursor})
    seen = [j.id for j in first.context["page"].items] + [j.id for j in second.context["page"].items]
    assert sorted(seen) == sorted(j.id for j in jobs)
    assert second.context["page"].next_cursor is None
    assert "End of list" in second.text


def test_it_pages_jobs_created_within_the_same_millisecond_without_losing_one(viewer):
    start = timezone.now().replace(microsecond=1000)
    jobs = [make_job(created_at=start + timedelta(microseconds=n)) for n in range(6)]
    url = reverse("jobs:job-list")
    seen, cursor = [], None
    for _ in range(6):
        page = viewer.get(url, {"limit": 2, **({"cursor": cursor} if cursor else {})}).context["page"]
        seen += [job.id for job in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [job.id for job in reversed(jobs)]


def test_it_answers_400_with_the_message_for_a_bad_filter(viewer):
    response = viewer.get(reverse("jobs:job-list"), {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "cursor: not a cursor this API gave out" in response.text


def test_it_says_what_to_do_when_there_are_no_jobs(viewer):
    assert "No jobs yet." in viewer.get(reverse("jobs:job-list")).text
    assert "No job matches these filters." in viewer.get(reverse("jobs:job-list"), {"status": "running"}).text


def test_it_cancels_the_selected_jobs_and_skips_ended_ones(client, users):
    active = [make_job(), make_job(status=Status.RUNNING)]
    ended = make_job(status=Status.SUCCEEDED)
    login(client, users["operator"])
    ids = [j.id for j in active] + [ended.id]
    response = post_confirmed(client, reverse("jobs:jobs-cancel"), {"ids": ids, "reason": "duplicates"}, follow=True)
    assert "Canceled 2 jobs (1 had already ended)." in response.text
    for job in active:
        job.refresh_from_db()
        assert (job.status, job.status_reason) == (Status.CANCELED, "duplicates")


@pytest.mark.parametrize(
    ("data", "message"),
    [({"reason": "x"}, "ids: required"), ({"ids": ["nope"], "reason": "x"}, "ids: not a job id")],
)
def test_it_refuses_a_bad_bulk_cancel(client, users, data, message):
    response = login(client, users["operator"]).post(reverse("jobs:jobs-cancel"), data)
    assert response.status_code == 400
    assert message in response.text


def test_it_shows_every_field_params_result_events_attempts_and_retries(viewer):
    old = make_job(status=Status.FAILED, params={"region": "eu", "size": 3}, last_error="boom", attempts=2)
    new = make_job(retried_from=old, status=Status.SUCCEEDED, result={"rows": 12}, submitted_by="alice")
    Event.objects.create(type="job:started", job_id=new.id, data={"worker": "w1@host:1", "attempt": 1})
    Event.objects.create(type="job:succeeded", job_id=new.id, data={"attempt": 1})
    page = viewer.get(reverse("jobs:job-detail", args=[new.id])).text
    for text in (str(new.id), new.job_key, "alice", "&quot;rows&quot;: 12", "job:started", "w1@host:1", str(old.id)):
        assert text in page
    old_page = viewer.get(reverse("jobs:job-detail", args=[old.id])).text
    assert "&quot;region&quot;: &quot;eu&quot;" in old_page
    assert str(new.id) in old_page  # retried into
    assert 'title="20' in page  # exact ISO time on hover


def test_it_answers_404_for_an_unknown_job(viewer):
    import uuid

    assert viewer.get(reverse("jobs:job-detail", args=[uuid.uuid4()])).status_code == 404


def test_it_answers_409_with_the_message_when_canceling_an_ended_job(client, users):
    job = make_job(status=Status.SUCCEEDED)
    response = login(client, users["operator"]).post(reverse("jobs:job-cancel", args=[job.id]), {"reason": "late"})
    assert response.status_code == 409
    assert f"job {job.id} is already succeeded" in response.text


def test_it_answers_htmx_errors_with_only_the_message(client, users):
    job = make_job(status=Status.SUCCEEDED)
    response = login(client, users["operator"]).post(
        reverse("jobs:job-cancel", args=[job.id]), {"reason": "late"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 409
    assert response.text.strip().startswith('<div class="error-box"')
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("#htmx-error", "innerHTML")


def test_it_renders_the_whole_page_to_restore_history(viewer):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<nav" in viewer.get(reverse("jobs:job-list"), headers=headers).text


def test_it_redirects_htmx_actions_on_the_client(client, users):
    job = make_job()
    response = login(client, users["operator"]).post(
        reverse("jobs:job-cancel", args=[job.id]), {"reason": "r"}, headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == reverse("jobs:job-detail", args=[job.id])


def test_it_force_fails_a_job_into_the_dlq(client, users):
    job = make_job(status=Status.RUNNING)
    login(client, users["admin"]).post(reverse("jobs:job-force-fail", args=[job.id]), {"reason": "stuck"})
    job.refresh_from_db()
    assert job.status == Status.FAILED and job.dlq_entry.reason == "Force-failed: stuck"
