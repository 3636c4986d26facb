"""The approvals page: issue links, expiry, approve / reject, force check, own jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import AuditEntry, Job, Status
from jobs.views.approvals import job_issue_url
from tests.support.console import login, make_job


def test_it_links_issues_on_github_and_on_enterprise(settings):
    settings.JOBS_GITHUB_REPO = "acme/ops"
    settings.JOBS_GITHUB_API_URL = "https://api.github.com"
    assert job_issue_url("42") == "https://github.com/acme/ops/issues/42"
    settings.JOBS_GITHUB_API_URL = "https://ghe.acme.internal/api/v3"
    assert job_issue_url("#7") == "https://ghe.acme.internal/acme/ops/issues/7"
    assert job_issue_url("acme/ops#8") == "https://ghe.acme.internal/acme/ops/issues/8"
    assert job_issue_url("other/repo#8") == ""  # not an issue of the configured repository
    settings.JOBS_GITHUB_REPO = ""
    assert job_issue_url("7") == ""


def test_it_lists_waiting_and_expiring_jobs(client, users, settings):
    settings.JOBS_GITHUB_REPO = "acme/ops"
    soon = make_job(
        status=Status.WAITING_APPROVAL, issue_id="5", approval_expires_at=timezone.now() + timedelta(minutes=20)
    )
    later = make_job(status=Status.WAITING_APPROVAL, issue_id="6")
    response = login(client, users["viewer"]).get(reverse("jobs:approval-list"))
    assert [job.id for job in response.context["page"].items] == [soon.id, later.id]
    assert [job.id for job in response.context["expiring"]] == [soon.id]
    assert 'href="https://github.com/acme/ops/issues/6"' in response.text
    assert "1 expiring within 1 h" in response.text


def test_it_pages_through_many_waiting_jobs_soonest_expiry_first(client, users):
    now = timezone.now()
    jobs = [
        make_job(status=Status.WAITING_APPROVAL, approval_expires_at=now + timedelta(minutes=n)) for n in range(1, 66)
    ]
    login(client, users["viewer"])
    first = client.get(reverse("jobs:approval-list"))
    assert "65 jobs" in first.text
    assert [job.id for job in first.context["page"].items] == [job.id for job in jobs[:50]]
    # 60 of them expire within the hour: ten are named, the rest counted.
    assert "60 expiring within 1 h" in first.text and "and 50 more" in first.text
    assert "Later →" in first.text
    second = client.get(reverse("jobs:approval-list"), {"cursor": first.context["page"].next_cursor})
    assert [job.id for job in second.context["page"].items] == [job.id for job in jobs[50:]]
    assert "End of list" in second.text
    assert client.get(reverse("jobs:approval-list"), {"cursor": "bogus"}).status_code == 400


def test_it_approves_and_rejects(client, users):
    first = make_job(status=Status.WAITING_APPROVAL, issue_id="1", submitted_by="operator")
    second = make_job(status=Status.WAITING_APPROVAL, issue_id="2", submitted_by="operator")
    login(client, users["approver"])
    client.post(reverse("jobs:job-approve", args=[first.id]))
    assert client.post(reverse("jobs:job-reject", args=[second.id])).status_code == 400  # reason required
    client.post(reverse("jobs:job-reject", args=[second.id]), {"reason": "wrong region"})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.approved_by) == (Status.QUEUED, "approver")
    assert (second.status, second.status_reason) == (Status.CANCELED, "Rejected: wrong region")


def test_it_refuses_an_approver_their_own_job(client, users):
    job = make_job(status=Status.WAITING_APPROVAL, issue_id="3", submitted_by="approver")
    login(client, users["approver"])
    assert "your job" in client.get(reverse("jobs:approval-list")).text  # no Approve button
    response = client.post(reverse("jobs:job-approve", args=[job.id]))
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == Status.WAITING_APPROVAL
    denied = AuditEntry.objects.latest("id")
    assert (denied.action, denied.outcome) == ("job.approve", "denied")


def test_it_force_checks_and_reports(client, users, fake_github):
    job = make_job(status=Status.WAITING_APPROVAL, issue_id="4")
    response = login(client, users["operator"]).post(reverse("jobs:job-check-approval", args=[job.id]), follow=True)
    assert f"Job {job.id}: not approved yet; expires in" in response.text


def test_it_says_it_could_not_check_when_github_is_not_configured(client, users, api, settings):
    settings.JOBS_GITHUB_TOKEN = ""
    settings.JOBS_GITHUB_REPO = ""
    job = make_job(status=Status.WAITING_APPROVAL, issue_id="4")
    url = reverse("jobs:job-check-approval", args=[job.id])

    in_page = login(client, users["operator"]).post(url, headers={"HX-Request": "true"})
    assert in_page.status_code == 503 and in_page["HX-Retarget"] == "#htmx-error"
    assert "could not check: GitHub approvals are off" in in_page.text
    assert "not approved yet" not in in_page.text
    answered = api("operator").post(f"/api/jobs/{job.id}/check-approval")
    assert answered.status_code == 503 and answered.json()["error"].startswith("could not check")
    assert Job.objects.get(id=job.id).status == Status.WAITING_APPROVAL


def test_it_answers_409_when_the_job_no_longer_waits(client, users):
    job = make_job(status=Status.QUEUED)
    response = login(client, users["approver"]).post(reverse("jobs:job-approve", args=[job.id]))
    assert response.status_code == 409
    assert "not waiting for approval" in response.text


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_says_what_to_do_when_nothing_waits(client, users, role):
    assert "No job is waiting for approval." in login(client, users[role]).get(reverse("jobs:approval-list")).text
