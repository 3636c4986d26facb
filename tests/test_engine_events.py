"""Every transition writes its event (and sends it as a signal); system_health's three causes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.models import DLQEntry, Event, Job, Status, WorkerHeartbeat
from jobs.selectors import system_health
from jobs.services.approvals import approvals_expire_due, job_approve
from jobs.services.config import config_get, config_update
from jobs.services.dlq import dlq_clean_expired, dlq_clear, dlq_discard, dlq_retry
from jobs.services.events import EVENT_TYPES
from jobs.services.lifecycle import job_cancel
from jobs.services.submission import job_submit
from jobs.signals import job_event
from tests.support.console import live_worker

pytestmark = pytest.mark.django_db


def run_next(job_id) -> str:
    """Admit and execute the next job in this process, as a worker would."""
    job = job_claim_next(worker="w-test")
    assert job is not None and job.id == job_id
    return job_execute(job, worker="w-test")


def types_of(job: Job) -> list[str]:
    return list(Event.objects.filter(job_id=job.id).order_by("id").values_list("type", flat=True))


def test_it_writes_one_event_per_transition(cli):
    config_update(actor=cli, changes={"worker": {"retryDelayMs": 0}})

    ok, _ = job_submit(actor=cli, entrypoint="demo.noop")
    assert run_next(ok.id) == Status.SUCCEEDED
    assert types_of(ok) == ["job:submitted", "job:started", "job:succeeded"]

    failing, _ = job_submit(actor=cli, entrypoint="demo.fail", max_attempts=2)
    assert run_next(failing.id) == Status.QUEUED
    assert run_next(failing.id) == Status.FAILED
    assert types_of(failing) == [
        "job:submitted",
        "job:started",
        "job:retrying",
        "job:started",
        "job:failed",
        "job:dlq",
    ]
    retry = dlq_retry(actor=cli, job_id=failing.id)
    assert types_of(failing)[-1] == "job:retried_from_dlq"
    assert Event.objects.get(type="job:retried_from_dlq").data == {"newJobId": str(retry.id)}
    assert types_of(retry) == ["job:submitted"]

    paused, _ = job_submit(actor=cli, entrypoint="demo.needs_approval", params={"issueId": "5"}, priority="critical")
    assert run_next(paused.id) == Status.WAITING_APPROVAL
    job_approve(actor=cli, job_id=paused.id)
    assert run_next(paused.id) == Status.SUCCEEDED
    assert types_of(paused) == [
        "job:submitted",
        "job:started",
        "job:waiting_approval",
        "job:approved",
        "job:started",
        "job:succeeded",
    ]

    waiting, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"w": 1}, issue_id="9")
    assert types_of(waiting) == ["job:submitted", "job:waiting_approval"]
    assert approvals_expire_due(now=timezone.now() + timedelta(days=2)) == 1
    assert types_of(waiting)[-1] == "job:expired"

    canceled, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"c": 1})
    job_cancel(actor=cli, job_id=canceled.id, reason="not needed")
    assert types_of(canceled) == ["job:submitted", "job:canceled"]
    assert Event.objects.get(type="job:canceled").data["reason"] == "not needed"

    # The DLQ's own events: cleaning (retention) and clearing.
    doomed, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"d": 1}, max_attempts=1, priority="critical")
    assert run_next(doomed.id) == Status.FAILED
    DLQEntry.objects.filter(job=doomed).update(added_at=timezone.now() - timedelta(days=31))
    assert dlq_clean_expired(actor=cli) == 1
    assert Event.objects.get(type="dlq:cleaned").data == {"count": 1, "retentionDays": 30.0}
    again, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"e": 1}, max_attempts=1, priority="critical")
    assert run_next(again.id) == Status.FAILED
    assert dlq_clear(actor=cli, reason="triaged")["removed"] == 1
    assert Event.objects.get(type="dlq:cleared").data["count"] == 1
    poisoned, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"f": 1}, max_attempts=1, priority="critical")
    assert run_next(poisoned.id) == Status.FAILED
    dlq_discard(actor=cli, job_id=poisoned.id, reason="poisoned")
    assert Event.objects.get(type="dlq:discarded").job_id == poisoned.id

    # health:changed is the reconciler's (tests/test_incident_timeline.py), queue:paused and
    # queue:resumed an operator's (tests/test_pauses.py): none is a job's transition.
    required = set(EVENT_TYPES) - {"dlq:evicted", "health:changed", "queue:paused", "queue:resumed"}
    assert required <= set(Event.objects.values_list("type", flat=True))


def test_it_sends_each_event_as_a_signal_after_commit(cli, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, event, **kwargs):
        received.append((event.type, event.job_id))

    job_event.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"signal": 1})
            assert received == [], "nothing is sent before the transaction commits"
        with django_capture_on_commit_callbacks(execute=True):
            job_cancel(actor=cli, job_id=job.id, reason="signal test")
    finally:
        job_event.disconnect(receiver)
    assert received == [("job:submitted", job.id), ("job:canceled", job.id)]


def health(cli, *, workers: bool = True, **changes):
    """system_health with one worker alive (``workers=False``: none), after ``changes``."""
    if changes:
        config_update(actor=cli, changes=changes)
    if workers and not WorkerHeartbeat.objects.exists():
        live_worker()
    return system_health(config_get())


def test_it_is_healthy_with_an_empty_queue(cli):
    report = health(cli)
    assert (report["status"], report["issues"]) == ("healthy", [])
    assert set(report["data"]["jobs"]) == {"store", "queue", "worker"}


def test_it_is_degraded_when_no_worker_is_alive_and_says_what_waits(cli):
    for n in range(3):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    report = health(cli, workers=False)
    assert (report["status"], report["issues"]) == ("degraded", ["No worker alive: 3 queued jobs cannot run"])


def test_it_is_degraded_and_names_the_disabled_job_system(cli):
    report = health(cli, worker={"enabled": False})
    assert report["status"] == "degraded"
    assert report["issues"] == ["The job system is disabled (worker.enabled is false): no job starts"]


def test_it_is_degraded_by_backpressure_alone(cli):
    for n in range(5):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    report = health(cli, queue={"maxQueueSize": 10, "backpressureThreshold": 50})
    assert report["data"]["jobs"]["queue"]["utilizationPercent"] == 50.0
    assert report["status"] == "degraded"
    assert report["issues"] == ["Backpressure active (50.0% of the queue)"]


def test_it_is_degraded_by_more_than_ten_dlq_entries_alone(cli):
    for n in range(11):
        job, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"n": n}, max_attempts=1)
        assert run_next(job.id) == Status.FAILED
    report = health(cli)
    assert report["data"]["jobs"]["queue"]["dlq"] == 11
    assert (report["status"], report["issues"]) == ("degraded", ["DLQ has 11 entries"])

    dlq_retry(actor=cli, job_id=job.id)  # 10 entries: a warning on the dashboard, not degraded
    assert health(cli)["status"] == "healthy"


def test_it_is_degraded_by_utilization_above_90_percent_alone(cli):
    # Threshold 100 keeps backpressure off, so utilization is the only cause.
    for n in range(19):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    report = health(cli, queue={"maxQueueSize": 20, "backpressureThreshold": 100})
    assert report["data"]["jobs"]["queue"]["utilizationPercent"] == 95.0
    assert report["data"]["jobs"]["queue"]["backpressureActive"] is False
    assert (report["status"], report["issues"]) == ("degraded", ["High queue utilization: 95.0%"])
