"""The DLQ endpoints: inspect, retry one, retry all (at once or in the background), clear, clean."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import BackgroundOperation, DLQEntry, Job, Status
from jobs.services.config import config_update
from jobs.services.lifecycle import job_force_fail
from jobs.services.operations import operation_run
from jobs.services.submission import job_submit
from tests.support.api import last_audit
from tests.support.processes import wait_for


def dead(cli, n: int = 1, *, entrypoint: str = "demo.noop", reason: str = "broken") -> list[Job]:
    """n jobs in the DLQ (force-failed through the service)."""
    jobs = []
    for i in range(n):
        job, _ = job_submit(actor=cli, entrypoint=entrypoint, params={"n": i, "tag": str(uuid.uuid4())})
        job_force_fail(actor=cli, job_id=job.id, reason=f"{reason} {i}")
        jobs.append(job)
    return jobs


@pytest.mark.django_db
def test_it_lists_dlq_entries_with_the_runbook_fields_and_a_count(api, cli):
    jobs = dead(cli, 3)

    first = api("viewer").get("/api/dlq", limit=2).json()
    second = api("viewer").get("/api/dlq", limit=2, cursor=first["nextCursor"]).json()

    assert first["count"] == 3
    assert [e["job"]["id"] for e in first["items"] + second["items"]] == [str(j.id) for j in reversed(jobs)]
    entry = first["items"][0]
    assert {"job", "reason", "addedAt", "attempts", "lastError"} <= set(entry)
    assert entry["job"]["entrypoint"] == "demo.noop"
    assert second["nextCursor"] is None


@pytest.mark.django_db
def test_it_filters_the_dlq_by_reason(api, cli):
    dead(cli, 2, reason="timeout")
    dead(cli, 1, reason="refused")

    body = api("viewer").get("/api/dlq", reason="refused").json()

    assert body["count"] == 1
    assert "refused" in body["items"][0]["reason"]


@pytest.mark.django_db
def test_it_retries_one_entry_as_a_new_job(api, cli):
    (old,) = dead(cli)

    response = api("operator").post(f"/api/dlq/{old.id}/retry")

    assert response.status_code == 201
    new = response.json()["job"]
    assert (new["retriedFrom"], new["status"]) == (str(old.id), "queued")
    assert not DLQEntry.objects.filter(job_id=old.id).exists()
    entry = last_audit("dlq.retry")
    assert (entry.actor, entry.source, entry.object_ids) == ("operator", "api", [str(old.id), new["id"]])


@pytest.mark.django_db
def test_it_answers_404_when_the_job_is_not_in_the_dlq(api, cli):
    (old,) = dead(cli)
    api("operator").post(f"/api/dlq/{old.id}/retry")

    assert api("operator").post(f"/api/dlq/{old.id}/retry").status_code == 404
    assert api("operator").post(f"/api/dlq/{uuid.uuid4()}/retry").status_code == 404
    assert api("operator").post("/api/dlq/not-an-id/retry").status_code == 400


@pytest.mark.django_db
def test_it_refuses_retry_to_a_viewer_and_records_it(api, cli):
    (old,) = dead(cli)

    assert api("viewer").post(f"/api/dlq/{old.id}/retry").status_code == 403
    assert DLQEntry.objects.filter(job_id=old.id).exists()
    assert last_audit("dlq.retry").outcome == "denied"


@pytest.mark.django_db
def test_it_answers_429_to_a_retry_under_backpressure(api, cli):
    (old,) = dead(cli)
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 1, "backpressureThreshold": 100}})
    job_submit(actor=cli, entrypoint="demo.noop", params={"fill": True})

    response = api("operator").post(f"/api/dlq/{old.id}/retry")

    assert response.status_code == 429
    assert "Retry-After" in response.headers


@pytest.mark.django_db
def test_it_retries_even_a_small_dlq_as_one_background_operation(api, cli):
    dead(cli, 3)

    response = api("operator").post("/api/dlq/retry-all", {"reason": "upstream fixed"})

    # One policy at every door: an operation bounded to the entries present now.
    assert response.status_code == 202
    operation = response.json()["operation"]
    assert (operation["state"], operation["total"]) == ("pending", 3)
    operation_run(operation["id"])  # what the worker's operation task does
    final = api("viewer").get(f"/api/operations/{operation['id']}").json()
    assert (final["state"], final["result"]) == ("done", {"retried": 3})
    assert DLQEntry.objects.count() == 0
    entry = last_audit("dlq.retry_all")
    assert (entry.actor, entry.reason, len(entry.object_ids)) == ("operator", "upstream fixed", 3)
    assert api("viewer").post("/api/dlq/retry-all").status_code == 403


@pytest.mark.workers
def test_it_retries_a_large_dlq_in_the_background_with_progress(api, cli, workers):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 10_000}, "worker": {"enabled": False}})
    dead(cli, 101)
    config_update(actor=cli, changes={"worker": {"enabled": True}})
    workers(1)

    response = api("operator").post("/api/dlq/retry-all", {"reason": "bulk"})

    assert response.status_code == 202
    operation = response.json()["operation"]
    assert (operation["total"], operation["kind"]) == (101, "dlq.retry_all")

    def finished():
        state = api("viewer").get(f"/api/operations/{operation['id']}").json()
        return state if state["state"] in ("done", "failed") else None

    final = wait_for(finished, timeout=60, message="retry-all operation finished")
    assert (final["state"], final["done"], final["percent"], final["result"]) == ("done", 101, 100, {"retried": 101})
    assert DLQEntry.objects.count() == 0
    assert Job.objects.exclude(retried_from=None).count() == 101


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_operation(api, cli):
    assert api("viewer").get(f"/api/operations/{uuid.uuid4()}").status_code == 404
    assert BackgroundOperation.objects.count() == 0


@pytest.mark.django_db
def test_it_clears_the_dlq_for_an_admin_after_an_export(api, cli):
    jobs = dead(cli, 2)

    refused = api("operator").post("/api/dlq/clear", {"reason": "noise"})
    assert refused.status_code == 403
    assert last_audit("dlq.clear").outcome == "denied"
    assert DLQEntry.objects.count() == 2

    response = api("admin").post("/api/dlq/clear", {"reason": "noise"})
    assert response.status_code == 200
    assert response.json()["removed"] == 2
    assert DLQEntry.objects.count() == 0
    assert Job.objects.filter(id__in=[j.id for j in jobs], status=Status.FAILED).count() == 2
    entry = last_audit("dlq.clear")
    assert (entry.outcome, entry.reason, entry.after["export"]) == ("ok", "noise", response.json()["export"])


@pytest.mark.django_db
def test_it_needs_a_reason_to_clear_the_dlq(api, cli):
    dead(cli)

    response = api("admin").post("/api/dlq/clear", {})

    assert response.status_code == 400
    assert response.json()["error"] == "reason: required"
    assert DLQEntry.objects.count() == 1


@pytest.mark.django_db
def test_it_cleans_expired_entries_only(api, cli):
    old, recent = dead(cli, 2)
    DLQEntry.objects.filter(job_id=old.id).update(added_at=timezone.now() - timedelta(days=31))

    response = api("operator").post("/api/dlq/clean-expired")

    assert response.status_code == 200
    assert response.json()["removed"] == 1
    assert list(DLQEntry.objects.values_list("job_id", flat=True)) == [recent.id]
    assert last_audit("dlq.clean_expired").actor == "operator"
    assert api("viewer").post("/api/dlq/clean-expired").status_code == 403
