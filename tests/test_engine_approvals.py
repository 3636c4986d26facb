"""Entry points that ask for approval mid-run, on a real worker: approve, and expiry."""

from __future__ import annotations

import pytest

from jobs.models import Event, Job, Status
from jobs.services.approvals import EXPIRED_ERROR, job_approve
from jobs.services.audit import Actor
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from tests.support.processes import wait_for

pytestmark = pytest.mark.workers


def event_types(job: Job) -> list[str]:
    return list(Event.objects.filter(job_id=job.id).order_by("id").values_list("type", flat=True))


def test_it_pauses_a_job_for_approval_then_runs_it_once_approved(workers, beat, cli, make_user):
    approver = make_user("approver", "alice")
    job, _ = job_submit(actor=cli, entrypoint="demo.needs_approval", params={"issueId": "42"})
    workers(1)
    beat()

    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.WAITING_APPROVAL).exists(), timeout=20)
    job.refresh_from_db()
    assert job.issue_id == "42" and job.approval_expires_at is not None
    assert job.attempts == 0, "asking for approval is not a failed attempt"

    job_approve(actor=Actor.for_user(approver), job_id=job.id, reason="looks right")
    job.refresh_from_db()
    assert job.status in (Status.QUEUED, Status.RUNNING, Status.SUCCEEDED)
    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.SUCCEEDED).exists(), timeout=20)
    job.refresh_from_db()
    assert job.result == {"approved": True, "issueId": "42"}
    assert job.approved_by == "alice"
    assert event_types(job) == [
        "job:submitted",
        "job:started",
        "job:waiting_approval",
        "job:approved",
        "job:started",
        "job:succeeded",
    ]


def test_it_fails_a_waiting_job_when_its_approval_ttl_expires(workers, beat, cli):
    config_update(actor=cli, changes={"approval": {"defaultTtlHours": 0.0005}})  # 1.8 seconds
    job, _ = job_submit(actor=cli, entrypoint="demo.needs_approval", params={"issueId": "7"})
    workers(1)
    beat()

    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.FAILED).exists(), timeout=30)
    job.refresh_from_db()
    assert job.last_error == EXPIRED_ERROR == "Approval TTL expired"
    assert job.completed_at >= job.approval_expires_at
    assert event_types(job) == ["job:submitted", "job:started", "job:waiting_approval", "job:expired"]
