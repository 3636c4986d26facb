"""Retry-all as a background operation (jobs/services/operations.py): it paces itself below the
backpressure threshold until every entry present at the start is retried, waits for room while
the queue is full, and stops when an operator cancels it, from the console, the API or the CLI."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from jobs.models import AuditEntry, DLQEntry, Job
from jobs.services.config import config_update
from jobs.services.lifecycle import job_force_fail
from jobs.services.submission import job_submit
from tests.support.api import last_audit
from tests.support.console import login, make_dead_letters
from tests.support.processes import wait_for

pytestmark = pytest.mark.workers


def dead(cli, n: int, *, seconds: float = 0.05) -> None:
    """n DLQ entries of short jobs (each submitted, then force-failed before it could run)."""
    for i in range(n):
        job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": seconds, "n": i})
        job_force_fail(actor=cli, job_id=job.id, reason="upstream down")


def operation_of(api, operation_id) -> dict:
    return api("viewer").get(f"/api/operations/{operation_id}").json()


def test_it_retries_168_entries_with_default_limits_to_the_end_never_refused(api, cli, workers, beat):
    dead(cli, 168)
    workers(2)
    beat()

    began = time.monotonic()
    response = api("operator").post("/api/dlq/retry-all", {"reason": "upstream back"})
    assert response.status_code == 202
    operation_id = response.json()["operation"]["id"]
    seen, highest_queued, backpressure_seen = [], 0, False
    while time.monotonic() - began < 120:
        state = operation_of(api, operation_id)
        stats = api("viewer").get("/api/queue/stats").json()
        seen.append(state)
        highest_queued = max(highest_queued, stats["queued"])
        backpressure_seen |= stats["backpressureActive"]
        if state["state"] in ("done", "failed", "canceled"):
            break
        time.sleep(0.1)
    took = time.monotonic() - began

    final = seen[-1]
    print(f"168 entries retried in {took:.1f} s; queue at most {highest_queued}; states {[s['state'] for s in seen]}")
    assert (final["state"], final["error"], final["done"], final["result"]["retried"]) == ("done", "", 168, 168)
    # It waited for room at least once, with its progress counts, and went on by itself.
    waiting = [s for s in seen if s["state"] == "waiting"]
    assert waiting and all(s["waitingForRoom"] and 0 < s["done"] < 168 for s in waiting)
    assert "waiting for room" in waiting[0]["progress"]
    # Paced below the threshold: backpressure never turned on, so no submission was refused meanwhile.
    assert not backpressure_seen and highest_queued < 80
    assert not DLQEntry.objects.filter(job__retried_from=None).exists(), "every entry present at the start"
    assert Job.objects.exclude(retried_from=None).count() == 168
    assert not AuditEntry.objects.filter(outcome="denied").exists()


def test_it_waits_while_the_queue_never_drains_until_an_operator_cancels_it(api, cli, workers, beat, client, users):
    config_update(actor=cli, changes={"worker": {"enabled": False}})  # nothing leaves the queue
    dead(cli, 100)
    workers(1)
    beat()

    operation_id = api("operator").post("/api/dlq/retry-all", {"reason": "upstream back"}).json()["operation"]["id"]
    waiting = wait_for(
        lambda: (state := operation_of(api, operation_id))["state"] == "waiting" and state,
        timeout=30,
        message="retry-all waiting for room",
    )
    assert (waiting["done"], waiting["result"]["retried"], waiting["cancelable"]) == (72, 72, True)
    time.sleep(2)  # several reconciler ticks: the queue is still full, so it keeps waiting
    assert operation_of(api, operation_id)["state"] == "waiting"
    operator = login(client, users["operator"])
    page = operator.get(reverse("jobs:operation-detail", args=[operation_id])).text
    assert "Waiting for room" in page and "72 retried" in page and "Cancel this operation" in page

    # The console's door: the page's cancel button.
    canceled = operator.post(reverse("jobs:operation-cancel", args=[operation_id]), {"reason": "not now"}, follow=True)

    assert "Canceled by operator (not now)" in canceled.text
    final = operation_of(api, operation_id)
    assert (final["state"], final["canceledBy"], final["result"]["retried"]) == ("canceled", "operator", 72)
    assert DLQEntry.objects.count() == 28, "what it did not retry stays in the DLQ"
    entry = last_audit("operation.cancel")
    assert (entry.actor, entry.reason, entry.object_ids, entry.after["state"]) == (
        "operator",
        "not now",
        [operation_id],
        "canceled",
    )
    # The API's door: an ended operation answers 409, and nothing changes.
    again = api("operator").post(f"/api/operations/{operation_id}/cancel", {"reason": "twice"})
    assert again.status_code == 409
    assert api("viewer").post(f"/api/operations/{operation_id}/cancel", {"reason": "x"}).status_code == 403

    # The CLI's door, on a second retry-all of what is left: stopped before it retried anything.
    second = api("operator").post("/api/dlq/retry-all", {"reason": "later"}).json()["operation"]["id"]
    call_command("jobs", "operations", "cancel", second, "--reason", "still down")
    stopped = wait_for(
        lambda: (state := operation_of(api, second))["state"] == "canceled" and state,
        timeout=30,
        message="second retry-all canceled",
    )
    assert stopped["result"].get("retried", 0) == 0 and DLQEntry.objects.count() == 28
    with pytest.raises(CommandError, match="has already ended"):
        call_command("jobs", "operations", "cancel", second, "--reason", "again")
    shown = StringIO()
    call_command("jobs", "operations", "show", second, stdout=shown)
    assert json.loads(shown.getvalue())["state"] == "canceled"


def test_a_running_retry_all_canceled_stops_between_batches_and_keeps_what_it_did(api, cli, workers):
    from jobs.services.operations import BATCH_SIZE

    # Room for everything, and nothing runs: what is counted is only what the retry-all did.
    config_update(actor=cli, changes={"worker": {"enabled": False}, "queue": {"maxQueueSize": 100_000}})
    make_dead_letters(10 * BATCH_SIZE, prefix="bulk")
    workers(1)
    operation_id = api("operator").post("/api/dlq/retry-all", {"reason": "upstream back"}).json()["operation"]["id"]
    wait_for(lambda: operation_of(api, operation_id)["done"] >= BATCH_SIZE, timeout=60, message="a batch done")

    answer = api("operator").post(f"/api/operations/{operation_id}/cancel", {"reason": "wrong fix"})

    assert answer.status_code == 200, answer.json()
    assert answer.json()["cancelRequested"] and answer.json()["state"] in ("running", "canceled")
    final = wait_for(
        lambda: (state := operation_of(api, operation_id))["state"] != "running" and state,
        timeout=60,
        message="the operation stopped",
    )
    retried = final["result"]["retried"]
    print(f"canceled after {retried} of {10 * BATCH_SIZE} entries")
    assert final["state"] == "canceled" and "canceled by operator" in final["progress"]
    assert retried % BATCH_SIZE == 0 and 0 < retried < 10 * BATCH_SIZE, "whole batches, then it stopped"
    assert DLQEntry.objects.count() == 10 * BATCH_SIZE - retried
    assert Job.objects.exclude(retried_from=None).count() == retried
    assert last_audit("operation.cancel").before["state"] == "running"
