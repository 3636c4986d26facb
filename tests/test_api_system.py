"""Health, queue and store stats, workers, the job-system switch, emergencies and settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.admission import job_claim_next
from jobs.models import DLQEntry, Job, Status, WorkerHeartbeat
from jobs.services.config import config_get, config_update
from jobs.services.submission import job_submit
from tests.support.api import last_audit
from tests.support.console import live_worker

pytestmark = pytest.mark.django_db


def submit(cli, n: int, **fields) -> Job:
    job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": n}, **fields)
    return job


def test_it_reports_health_in_the_runbook_shape(api, cli):
    submit(cli, 1)
    live_worker()

    body = api("viewer").get("/api/health").json()

    assert body["status"] == "healthy"
    assert body["issues"] == []
    assert api("viewer").get("/api/health?probe=true").status_code == 200
    jobs = body["data"]["jobs"]
    assert jobs["store"]["queued"] == 1
    assert jobs["queue"]["utilizationPercent"] == 1.0
    assert jobs["queue"]["backpressureActive"] is False
    assert {"running", "currentJob", "processed", "succeeded", "failed", "uptimeMs"} <= set(jobs["worker"])


def test_it_reports_degraded_health_under_backpressure(api, cli):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 2}})
    submit(cli, 1)
    submit(cli, 2)

    body = api("viewer").get("/api/health").json()

    assert body["status"] == "degraded"
    assert any("Backpressure" in issue for issue in body["issues"])


def test_it_reports_queue_and_store_stats(api, cli):
    submit(cli, 1)
    submit(cli, 2, issue_id="5")

    queue = api("viewer").get("/api/queue/stats").json()
    store = api("viewer").get("/api/store/stats").json()

    assert queue == {
        "queued": 1,
        "running": 0,
        "stopping": 0,
        "dlq": 0,
        "backpressureActive": False,
        "utilizationPercent": 1.0,
        "maxConcurrent": 3,
        "maxQueueSize": 100,
        "backpressureThreshold": 80,
    }
    assert (store["queued"], store["waiting_approval"], store["total"]) == (1, 1, 2)


def test_it_cancels_queued_low_priority_jobs(api, cli):
    low = [submit(cli, n, priority="low") for n in range(3)]
    normal = submit(cli, 9)

    response = api("operator").post("/api/queue/cancel-low-priority", {"reason": "Backpressure relief"})

    assert response.json() == {"canceled": 3}
    assert Job.objects.filter(id__in=[j.id for j in low], status=Status.CANCELED).count() == 3
    assert Job.objects.get(id=normal.id).status == Status.QUEUED
    entry = last_audit("queue.cancel_low_priority")
    assert (entry.actor, entry.reason, len(entry.object_ids)) == ("operator", "Backpressure relief", 3)
    assert api("viewer").post("/api/queue/cancel-low-priority", {"reason": "x"}).status_code == 403
    assert api("operator").post("/api/queue/cancel-low-priority", {}).status_code == 400


def test_it_lists_workers_with_their_stats(api):
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        name="w1@host:1",
        hostname="host",
        pid=1,
        started_at=now - timedelta(minutes=5),
        last_seen=now,
        processed=7,
        succeeded=6,
        failed=1,
    )
    WorkerHeartbeat.objects.create(
        name="w2@host:2",
        hostname="host",
        pid=2,
        started_at=now - timedelta(hours=2),
        last_seen=now - timedelta(hours=1),
    )

    items = api("viewer").get("/api/workers").json()["items"]

    alive, dead = items
    assert (alive["name"], alive["running"], alive["processed"], alive["succeeded"], alive["failed"]) == (
        "w1@host:1",
        True,
        7,
        6,
        1,
    )
    assert 299_000 <= alive["uptimeMs"] <= 301_000
    assert (dead["running"], dead["uptimeMs"]) == (False, 0)
    assert set(alive) == {"name", "running", "currentJob", "processed", "succeeded", "failed", "uptimeMs", "lastSeen"}


def test_it_disables_and_enables_the_job_system_for_an_admin(api, cli):
    assert api("operator").post("/api/worker/disable", {"reason": "maintenance"}).status_code == 403
    assert last_audit("worker.disable").outcome == "denied"

    disabled = api("admin").post("/api/worker/disable", {"reason": "maintenance"})
    assert disabled.json() == {"enabled": False}
    assert config_get().worker.enabled is False
    submit(cli, 1)
    assert job_claim_next(worker="tests") is None  # nothing is admitted while disabled
    assert last_audit("worker.disable").reason == "maintenance"

    enabled = api("admin").post("/api/worker/enable", {"reason": "done"})
    assert enabled.json() == {"enabled": True}
    assert last_audit("worker.enable").outcome == "ok"


def test_it_force_fails_every_running_job_in_an_emergency(api, cli):
    submit(cli, 1)
    submit(cli, 2)
    job_claim_next(worker="tests")

    assert api("operator").post("/api/emergency/force-fail-running", {"reason": "outage"}).status_code == 403
    # A script that sends the same body to every emergency endpoint is not refused.
    body = {"reason": "outage", "confirm": "clear all jobs"}
    response = api("admin").post("/api/emergency/force-fail-running", body)

    assert response.json() == {"failed": 1}
    assert Job.objects.filter(status=Status.FAILED).count() == 1
    assert DLQEntry.objects.count() == 1
    assert last_audit("emergency.force_fail_running").reason == "outage"


def test_it_clears_all_jobs_only_with_the_typed_confirmation(api, cli):
    submit(cli, 1)

    wrong = api("admin").post("/api/emergency/clear-all", {"reason": "reset", "confirm": "yes"})
    assert wrong.status_code == 400
    assert wrong.json()["error"].startswith("confirm")
    assert (
        api("operator").post("/api/emergency/clear-all", {"reason": "reset", "confirm": "clear all jobs"}).status_code
        == 403
    )
    assert Job.objects.count() == 1

    response = api("admin").post("/api/emergency/clear-all", {"reason": "reset", "confirm": "clear all jobs"})
    assert response.json()["removed"] == 1
    assert Job.objects.count() == 0
    assert last_audit("emergency.clear_all").after["export"] == response.json()["export"]


def test_it_reads_the_configuration_in_the_jobs_json_shape(api):
    body = api("viewer").get("/api/config").json()

    assert body["queue"] == {"maxConcurrent": 3, "maxQueueSize": 100, "backpressureThreshold": 80}
    assert set(body) == {"queue", "worker", "approval", "dlq"}


def test_it_changes_the_configuration_for_an_admin_and_records_before_and_after(api):
    response = api("admin").patch("/api/config", {"queue": {"maxConcurrent": 5}, "reason": "more capacity"})

    assert response.status_code == 200
    assert response.json()["queue"]["maxConcurrent"] == 5
    assert config_get().queue.maxConcurrent == 5
    entry = last_audit("config.update")
    assert (entry.before, entry.after, entry.reason) == (
        {"queue": {"maxConcurrent": 3}},
        {"queue": {"maxConcurrent": 5}},
        "more capacity",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"queue": {"maxConcurrent": 0}}, "queue.maxConcurrent"),
        ({"queue": {"maxConcurrent": "5"}}, "queue.maxConcurrent"),
        ({"queue": {"size": 5}}, "queue.size"),
        ({"workers": {}}, "workers"),
        ({}, "config"),
        ({"approval": {"defaultTtlHours": True}}, "approval.defaultTtlHours"),
        ({"approval": {"expiryWarningHours": "2"}}, "approval.expiryWarningHours"),
    ],
)
def test_it_refuses_an_invalid_configuration_naming_the_field(api, body, field):
    response = api("admin").patch("/api/config", body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(field)
    assert config_get().queue.maxConcurrent == 3
    assert config_get().approval.defaultTtlHours == 24


def test_a_whole_number_of_hours_is_a_number_of_hours(api):
    response = api("admin").patch("/api/config", {"approval": {"defaultTtlHours": 12}})
    assert response.status_code == 200 and config_get().approval.defaultTtlHours == 12.0


def test_it_refuses_configuration_changes_to_an_operator(api):
    response = api("operator").patch("/api/config", {"queue": {"maxConcurrent": 5}})

    assert response.status_code == 403
    assert config_get().queue.maxConcurrent == 3
    assert last_audit("config.update").outcome == "denied"


def test_it_answers_405_to_a_wrong_method(api):
    assert api("admin").client.delete("/api/config").status_code == 405
    assert api("admin").get("/api/dlq/clear").status_code == 405


def test_it_answers_an_unknown_api_path_with_a_json_404(api):
    response = api("viewer").get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.json()["error"] == "no API endpoint at /api/no-such-thing"


def test_a_probe_reads_503_when_no_worker_can_run_the_queue(api, cli):
    submit(cli, 1)

    plain = api("viewer").get("/api/health")
    probe = api("viewer").get("/api/health?probe=true")

    assert plain.status_code == 200 and plain.json()["status"] == "degraded"
    assert plain.json()["issues"] == ["No worker alive: 1 queued jobs cannot run"]
    assert probe.status_code == 503 and probe.json() == plain.json()


def test_it_refuses_to_clear_all_while_a_job_runs_and_says_what_to_do_first(api, cli, settings):
    submit(cli, 1)
    job_claim_next(worker="tests")
    body = {"reason": "reset", "confirm": "clear all jobs"}

    refused = api("admin").post("/api/emergency/clear-all", body)

    assert refused.status_code == 409
    assert refused.json()["error"] == (
        "1 job running: clear all would delete it while the code runs. "
        "Disable the job system and force-fail running jobs first, then clear all."
    )
    assert refused.json()["detail"] == {"running": 1}
    assert Job.objects.count() == 1
    assert not any(settings.JOBS_EXPORT_DIR.glob("clear-all-*")), "nothing exported for a refused clear"
    # What the answer says to do, then the clear goes through.
    api("admin").post("/api/worker/disable", {"reason": "clear all", "confirm": "disable job system"})
    api("admin").post("/api/emergency/force-fail-running", {"reason": "clear all"})
    assert api("admin").post("/api/emergency/clear-all", body).json()["removed"] == 1
