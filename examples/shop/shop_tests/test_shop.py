"""The shop's @task functions and its Celery task, run by the console's engine on real workers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.urls import reverse
from django.utils import timezone
from orders import tasks

from jobs.entrypoints.celery_tasks import enqueue as celery_enqueue
from jobs.models import DLQEntry, Job, Status
from jobs.services.audit import Actor
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from shop_tests.support import wait_for


def order(client, **fields):
    body = {"id": 7, "email": "ada@example.com", "amount_cents": 1250, **fields}
    response = client.post("/orders/", json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    return response.json()


def status_of(client, result_id) -> dict:
    return client.get(f"/orders/tasks/{result_id}/").json()


def finished(result):
    def check():
        result.refresh()
        return result.is_finished

    return check


def test_a_task_enqueued_from_the_shops_view_runs_and_succeeds(client, shop_workers):
    shop_workers(1)
    ids = order(client)

    answer = wait_for(lambda: (s := status_of(client, ids["receipt"]))["status"] == "SUCCESSFUL" and s, timeout=30)
    assert answer["value"] == {"order": 7, "sent_to": "ada@example.com"} and answer["attempts"] == 1
    charge = tasks.charge_card.get_result(ids["charge"])
    wait_for(finished(charge), timeout=30, message="the charge")
    assert charge.return_value == {"order": 7, "charged": 1250, "attempt": 1}
    assert Job.objects.get(id=ids["charge"]).priority_label == "high"  # @task(priority=60)


def test_a_failing_task_retries_lands_in_the_dlq_with_its_traceback_and_runs_again_from_the_console(
    client, operator, shop_workers
):
    config_update(actor=Actor.cli("tests"), changes={"worker": {"maxAttempts": 2, "retryDelayMs": 200}})
    shop_workers(1)
    charge_id = order(client, amount_cents=0)["charge"]

    wait_for(lambda: DLQEntry.objects.filter(job_id=charge_id).exists(), timeout=40, message="the charge in the DLQ")
    result = tasks.charge_card.get_result(charge_id)
    assert result.status == TaskResultStatus.FAILED and result.attempts == 2
    assert [e.exception_class for e in result.errors] == [ValueError, ValueError]
    assert "orders/tasks.py" in result.errors[-1].traceback
    assert result.errors[-1].traceback.rstrip().endswith("ValueError: order 7: cannot charge 0 cents")
    page = client.get(reverse("jobs:job-detail", args=[charge_id])).content.decode()
    assert "task:orders.tasks.charge_card" in page and "cannot charge 0 cents" in page
    assert "Traceback (most recent call last)" in page

    client.post(reverse("jobs:dlq-retry", args=[charge_id]), {"reason": "card fixed"})
    retry = wait_for(lambda: Job.objects.filter(retried_from_id=charge_id).first(), message="the retry")
    again = tasks.charge_card.get_result(str(retry.id))
    wait_for(finished(again), timeout=40, message="the retried charge ran")
    assert again.attempts == 2 and again.errors[0].exception_class is ValueError


def test_run_after_holds_a_task_until_then(shop_workers):
    shop_workers(1)
    not_before = timezone.now() + timedelta(seconds=3)
    result = tasks.nightly_report.using(run_after=not_before).enqueue("2026-12-04")

    wait_for(finished(result), timeout=40, message="the deferred report")
    assert result.started_at >= not_before and result.return_value == "report for 2026-12-04"


@pytest.mark.django_db
def test_an_argument_json_cannot_hold_is_refused_at_enqueue_and_nothing_is_stored():
    with pytest.raises(TypeError, match="argument 'email' of task orders.tasks.send_receipt is not JSON-serialisable"):
        tasks.send_receipt.enqueue(7, email=object())
    assert not Job.objects.exists()


def test_the_global_limit_holds_for_tasks_and_entry_points_together(shop_workers):
    config_update(actor=Actor.cli("tests"), changes={"queue": {"maxConcurrent": 2}})
    for n in range(5):
        tasks.nightly_report.enqueue(f"day {n}")
        job_submit(actor=Actor.cli("tests"), entrypoint="orders.pack", params={"order_id": n, "seconds": 0.3})
    shop_workers(2, pool="threads", concurrency=3)

    highest = 0

    def all_done():
        nonlocal highest
        highest = max(highest, Job.objects.filter(status=Status.RUNNING).count())
        return Job.objects.filter(status=Status.SUCCEEDED).count() == 10

    wait_for(all_done, timeout=60, message="ten jobs done")
    assert highest <= 2


def test_the_shops_celery_task_runs_as_a_job(shop_workers):
    shop_workers(1)
    job = celery_enqueue(tasks.refund, 7, amount_cents=500)

    wait_for(lambda: Job.objects.get(id=job.id).status == Status.SUCCEEDED, timeout=30, message="the refund")
    job.refresh_from_db()
    assert job.entrypoint == "celery:orders.refund" and job.result == {"order": 7, "refunded": 500}


@pytest.mark.django_db
def test_the_console_is_served_under_ops(client):
    response = client.get("/ops/")
    assert response.status_code == 302 and response["Location"].startswith("/ops/login/")
    assert "Sign in" in client.get("/ops/login/").content.decode()
    assert client.get("/ops/api/health").status_code == 401  # the API is there, asking for a token
