"""Long work never runs in a request: a big clear-all and a big import answer 202 with an operation
that a worker runs to the end, so no web server time-out can cut them into a 500."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from jobs.actions.effects import CLEAR_ALL_INLINE_MAX, IMPORT_INLINE_MAX
from jobs.models import BackgroundOperation, Job, OperationInput, Status
from jobs.services.jsonl import imported_id
from jobs.services.operations import operation_run
from tests.support.api import last_audit

pytestmark = pytest.mark.django_db


def many_jobs(count: int) -> None:
    now = timezone.now()
    Job.objects.bulk_create(
        [
            Job(job_key=f"many:{n}", entrypoint="demo.noop", params={"n": n}, status=Status.SUCCEEDED, created_at=now)
            for n in range(count)
        ],
        batch_size=5000,
    )


def big_jsonl(prefix: str) -> list[str]:
    """Lines of JSONL that add up to more than an import answered at once."""
    line = {
        "entrypoint": "demo.noop",
        "status": "succeeded",
        "createdAt": "2025-01-01T00:00Z",
        "params": {"pad": "x" * 200},
    }
    return [json.dumps({**line, "id": f"{prefix}-{n}"}) for n in range(IMPORT_INLINE_MAX // 250 + 100)]


def test_clearing_more_jobs_than_a_request_should_hold_answers_202_and_a_worker_clears_them(api):
    many_jobs(CLEAR_ALL_INLINE_MAX + 1)

    response = api("admin").post("/api/emergency/clear-all", {"reason": "poison jobs", "confirm": "clear all jobs"})

    assert response.status_code == 202
    started = response.json()["operation"]
    assert started["kind"] == "emergency.clear_all" and started["state"] == "pending"
    assert started["total"] == CLEAR_ALL_INLINE_MAX + 1
    assert Job.objects.count() == CLEAR_ALL_INLINE_MAX + 1, "nothing removed in the request"

    finished = operation_run(started["id"])  # what the worker's operation task does

    assert finished.state == "done" and finished.done == CLEAR_ALL_INLINE_MAX + 1
    assert not Job.objects.exists()
    export = finished.result["export"]
    with open(export) as file:
        assert sum(1 for _ in file) == CLEAR_ALL_INLINE_MAX + 1
    assert last_audit("emergency.clear_all").reason == "poison jobs"
    assert api("admin").get(f"/api/operations/{started['id']}").json()["result"]["removed"] == CLEAR_ALL_INLINE_MAX + 1


def test_a_small_clear_all_still_answers_at_once(api):
    many_jobs(5)
    response = api("admin").post("/api/emergency/clear-all", {"reason": "reset", "confirm": "clear all jobs"})
    assert response.status_code == 200 and response.json()["removed"] == 5


def test_an_import_bigger_than_a_request_should_hold_answers_202_and_a_worker_imports_it(api):
    line = {
        "entrypoint": "demo.noop",
        "status": "succeeded",
        "createdAt": "2025-01-01T00:00Z",
        "params": {"pad": "x" * 200},
    }
    lines = [json.dumps({**line, "id": f"big-{n}"}) for n in range(IMPORT_INLINE_MAX // 250 + 100)]
    text = "\n".join(lines)
    assert len(text) > IMPORT_INLINE_MAX

    response = api("admin").post("/api/jobs/import", raw=text, content_type="application/x-ndjson")

    assert response.status_code == 202
    started = response.json()["operation"]
    assert started["kind"] == "jobs.import" and started["total"] == len(lines)
    assert not Job.objects.exists() and OperationInput.objects.filter(operation_id=started["id"]).exists()

    finished = operation_run(started["id"])

    assert finished.state == "done"
    assert finished.result == {"imported": len(lines), "interrupted": 0, "duplicates": 0, "skipped": []}
    assert Job.objects.count() == len(lines) and Job.objects.filter(id=imported_id("big-7")).exists()
    assert not OperationInput.objects.exists(), "the upload is not kept once imported"
    assert BackgroundOperation.objects.get(id=started["id"]).requested_by == "admin"


def test_a_big_import_with_a_bad_line_fails_its_operation_and_imports_nothing(api):
    line = {
        "entrypoint": "demo.noop",
        "status": "succeeded",
        "createdAt": "2025-01-01T00:00Z",
        "params": {"pad": "x" * 200},
    }
    lines = [json.dumps({**line, "id": f"bad-{n}"}) for n in range(IMPORT_INLINE_MAX // 250 + 100)]
    lines[500] = "{oops"
    response = api("admin").post("/api/jobs/import", raw="\n".join(lines), content_type="application/x-ndjson")
    assert response.status_code == 202

    finished = operation_run(response.json()["operation"]["id"])

    assert finished.state == "failed" and "line 501" in finished.error
    assert not Job.objects.exists()
