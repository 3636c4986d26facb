"""GET /metrics: Prometheus text format, read back with prometheus-client's own parser."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.services.lifecycle import job_force_fail
from jobs.services.submission import job_submit
from tests.support.api import Api

pytestmark = pytest.mark.django_db


def scrape(client: Client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def sample(families: dict, name: str, sample_name: str | None = None, **labels) -> float:
    for s in families[name].samples:
        if s.name == (sample_name or name) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {sample_name or name} {labels}")


def test_it_exposes_jobs_queue_dlq_workers_and_outcomes_in_prometheus_format(users, cli):
    for n in range(2):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    job_execute(job_claim_next(worker="tests"), worker="tests")
    failed, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 9})
    job_force_fail(actor=cli, job_id=failed.id, reason="broken")

    families = scrape(Api(users["viewer"]).client)

    assert sample(families, "jobs_by_status", status="queued") == 1
    assert sample(families, "jobs_by_status", status="succeeded") == 1
    assert sample(families, "jobs_by_status", status="failed") == 1
    assert sample(families, "jobs_queue_utilization_percent") == 1.0
    assert sample(families, "jobs_backpressure_active") == 0
    assert sample(families, "jobs_dlq_entries") == 1
    assert sample(families, "jobs_workers_alive") == 0
    assert families["jobs_outcomes"].type == "counter"
    assert sample(families, "jobs_outcomes", "jobs_outcomes_total", outcome="submitted") == 3
    assert sample(families, "jobs_outcomes", "jobs_outcomes_total", outcome="succeeded") == 1
    assert sample(families, "jobs_outcomes", "jobs_outcomes_total", outcome="dlq") == 1
    assert families["jobs_run_seconds"].type == "histogram"
    assert run_sample(families, "count", outcome="succeeded") == 1
    assert run_sample(families, "bucket", outcome="succeeded", le="0.1") == 1  # demo.noop returns at once
    assert run_sample(families, "bucket", outcome="succeeded", le="+Inf") == 1
    assert run_sample(families, "sum", outcome="succeeded") < 0.1
    # A force-failed job never started: it has no run time.
    assert run_sample(families, "count", outcome="failed") == 0


def run_sample(families: dict, suffix: str, **labels) -> float:
    return sample(families, "jobs_run_seconds", f"jobs_run_seconds_{suffix}", **labels)


def test_the_run_time_histogram_is_a_running_total_that_survives_clearing_the_jobs(users, cli):
    """Each run that ends adds its run time once, into every bucket at or above it."""
    from datetime import timedelta

    from jobs.models import Job
    from jobs.services.lifecycle import jobs_clear_all

    job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={})
    running = job_claim_next(worker="tests")
    assert running.id == job.id
    # Started 3 s ago: the force-fail ends a run of about 3 s.
    Job.objects.filter(id=job.id).update(started_at=running.started_at - timedelta(seconds=3))
    job_force_fail(actor=cli, job_id=job.id, reason="stuck")

    families = scrape(Api(users["viewer"]).client)
    assert run_sample(families, "count", outcome="failed") == 1
    assert run_sample(families, "bucket", outcome="failed", le="2.5") == 0
    assert run_sample(families, "bucket", outcome="failed", le="5") == 1
    assert 3 <= run_sample(families, "sum", outcome="failed") < 4

    jobs_clear_all(actor=cli, reason="drill")
    families = scrape(Api(users["viewer"]).client)
    assert sample(families, "jobs_by_status", status="failed") == 0
    assert run_sample(families, "count", outcome="failed") == 1


def test_it_refuses_metrics_without_a_token(db):
    response = Client().get("/metrics")

    assert response.status_code == 401
    assert "jobs_dlq_entries" not in response.content.decode()


def test_it_refuses_metrics_with_an_unknown_token(db):
    assert Client(headers={"Authorization": "Bearer jc_forged"}).get("/metrics").status_code == 401


def test_it_refuses_metrics_to_a_user_without_a_role(db, django_user_model):
    nobody = django_user_model.objects.create_user("nobody")

    assert Api(nobody).client.get("/metrics").status_code == 403


def test_it_answers_an_allow_listed_address_without_a_token(db, settings):
    settings.JOBS_METRICS_ALLOWED_IPS = ["10.1.0.0/16"]

    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 401
