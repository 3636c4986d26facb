"""Approvals, events and the audit trail over the API."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEntry, Event, Job
from jobs.services.submission import job_submit

pytestmark = pytest.mark.django_db


def test_it_lists_jobs_waiting_for_approval_and_those_expiring(api, cli):
    soon, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 1}, issue_id="1")
    later, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 2}, issue_id="2")
    job_submit(actor=cli, entrypoint="demo.noop", params={"n": 3})
    Job.objects.filter(id=soon.id).update(approval_expires_at=timezone.now() + timedelta(minutes=20))

    waiting = api("viewer").get("/api/approvals").json()["items"]
    expiring = api("viewer").get("/api/approvals", expiring="true").json()["items"]

    assert [job["id"] for job in waiting] == [str(soon.id), str(later.id)]
    assert [job["id"] for job in expiring] == [str(soon.id)]
    assert {"id", "issueId", "approvalExpiresAt"} <= set(waiting[0])
    assert api("viewer").get("/api/approvals", expiring="perhaps").status_code == 400


def test_it_serves_the_events_feed_newest_first_and_after_an_id(api, cli):
    for n in range(3):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    ids = list(Event.objects.order_by("id").values_list("id", flat=True))

    newest = api("viewer").get("/api/events", limit=2).json()
    older = api("viewer").get("/api/events", limit=2, cursor=newest["nextCursor"]).json()
    after = api("viewer").get("/api/events", after=ids[0]).json()

    assert [e["id"] for e in newest["items"] + older["items"]] == list(reversed(ids))
    assert [e["id"] for e in after["items"]] == ids[1:]
    assert {e["type"] for e in after["items"]} == {"job:submitted"}
    assert api("viewer").get("/api/events", type="job:failed").json()["items"] == []
    assert api("viewer").get("/api/events", after=-1).status_code == 400
    for params in ({"type": "bogus"}, {"type": "bogus", "after": 0}):
        bogus = api("viewer").get("/api/events", **params)
        assert bogus.status_code == 400, params  # an unknown type is a mistake, not an empty feed
        assert bogus.json()["error"].startswith("type: must be one of job:submitted")


def test_it_shows_the_audit_trail_to_auditors_and_admins(api, cli):
    job_submit(actor=cli, entrypoint="demo.noop")

    for role in ("auditor", "admin"):
        body = api(role).get("/api/audit", action="job.submit").json()
        assert [entry["actor"] for entry in body["items"]] == ["tests"]
        assert {"createdAt", "actor", "source", "action", "outcome", "objectIds", "reason", "before", "after"} <= set(
            body["items"][0]
        )


def test_it_refuses_the_audit_trail_to_other_roles_and_records_the_attempt(api):
    for role in ("viewer", "operator", "approver"):
        assert api(role).get("/api/audit").status_code == 403
        assert api(role).get("/api/audit/export.csv").status_code == 403
    denied = AuditEntry.objects.filter(action__in=["audit.read", "audit.export"], outcome="denied")
    assert denied.count() == 6


def test_it_filters_and_pages_the_audit_trail(api, cli):
    for n in range(3):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    now = timezone.now()

    first = api("auditor").get("/api/audit", actor="tests", action="job.submit", limit=2).json()
    rest = api("auditor").get("/api/audit", actor="tests", action="job.submit", limit=2, cursor=first["nextCursor"])
    future = api("auditor").get("/api/audit", since=(now + timedelta(hours=1)).isoformat()).json()
    past = api("auditor").get("/api/audit", until="2000-01-01T00:00:00Z").json()

    assert len(first["items"]) == 2
    assert len(rest.json()["items"]) == 1
    assert rest.json()["nextCursor"] is None
    assert future["items"] == past["items"] == []
    assert api("auditor").get("/api/audit", since="last week").status_code == 400
    assert api("auditor").get("/api/audit", since="0001-01-01T00:00:00+14:00").status_code == 400


def test_it_exports_the_audit_trail_as_csv(api, cli):
    job_submit(actor=cli, entrypoint="demo.noop")

    response = api("auditor").get("/api/audit/export.csv", action="job.submit")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["actor"], row["action"]) for row in rows] == [("tests", "job.submit")]
