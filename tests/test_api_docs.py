"""Every `sh` block of docs/api.md, run with the real curl against a live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from jobs.engine.admission import job_claim_next
from jobs.models import DLQEntry, Job, JobRollup, Pause, Status, WorkerHeartbeat
from jobs.services.config import config_get
from jobs.services.lifecycle import job_force_fail
from jobs.services.operations import dlq_retry_all_start, operation_run
from jobs.services.submission import job_submit
from tests.support.api import Api
from tests.support.console import live_worker

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
BLOCK = re.compile(r"```sh\n# (?P<name>[a-z0-9-]+)\n(?P<body>.*?)```", re.DOTALL)


def blocks() -> dict[str, str]:
    return {match["name"]: match["body"] for match in BLOCK.finditer(DOC.read_text())}


def run(body: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", body],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def dead(cli, n: int = 1) -> list[Job]:
    jobs = []
    for i in range(n):
        job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"dead": i})
        job_force_fail(actor=cli, job_id=job.id, reason="broken")
        jobs.append(job)
    return jobs


def submit(cli, n: int = 0, **fields) -> Job:
    job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": n}, **fields)
    return job


# name -> (set up the state and return extra variables, check curl's output: true when right)
def _setup_dlq_inspect(cli, tmp_path):
    dead(cli, 2)
    return {}


def _check_dlq_inspect(out, env, tmp_path):
    body = json.loads(out)
    assert body["count"] == 2
    assert {"job", "reason", "addedAt"} <= set(body["items"][0])
    assert {"id", "entrypoint", "attempts", "lastError"} <= set(body["items"][0]["job"])
    return True


def _setup_one_dead(cli, tmp_path):
    return {"JOB_ID": str(dead(cli)[0].id)}


def _check_retry_one(out, env, tmp_path):
    assert json.loads(out)["job"]["retriedFrom"] == env["JOB_ID"]
    assert not DLQEntry.objects.exists()
    return True


def _setup_operation(cli, tmp_path):
    dead(cli, 2)
    operation = dlq_retry_all_start(actor=cli, reason="docs")
    operation_run(operation.id)  # what the worker's task does
    return {"OPERATION_ID": str(operation.id)}


def _setup_expired_entry(cli, tmp_path):
    (job,) = dead(cli)
    DLQEntry.objects.filter(job_id=job.id).update(added_at=timezone.now() - timedelta(days=40))
    return {}


def _setup_low_priority(cli, tmp_path):
    submit(cli, 1, priority="low")
    submit(cli, 2, priority="low")
    submit(cli, 3)
    return {}


def _setup_waiting(cli, tmp_path):
    return {"JOB_ID": str(submit(cli, 1, issue_id="12").id)}


def _setup_expiring(cli, tmp_path):
    job = submit(cli, 1, issue_id="12")
    Job.objects.filter(id=job.id).update(approval_expires_at=timezone.now() + timedelta(minutes=10))
    submit(cli, 2, issue_id="13")
    return {"JOB_ID": str(job.id)}


def _setup_worker(cli, tmp_path):
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        name="celery@docs:1", hostname="docs", pid=1, started_at=now - timedelta(minutes=1), last_seen=now, processed=3
    )
    return {}


def _setup_running(cli, tmp_path):
    submit(cli, 1)
    job_claim_next(worker="docs")
    return {}


def _setup_import_file(cli, tmp_path):
    line = {
        "id": "job_1700000000_a",
        "entrypoint": "demo.noop",
        "status": "succeeded",
        "createdAt": "2025-01-01T00:00Z",
    }
    (tmp_path / "jobs.jsonl").write_text(json.dumps(line) + "\n")
    return {}


def _one_worker_alive(cli, tmp_path):
    submit(cli, 1)
    live_worker()
    return {}


def _setup_sleeping(cli, tmp_path):
    job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 1})
    return {}


def _setup_paused(cli, tmp_path):
    from jobs.services.pauses import pause_set

    _setup_sleeping(cli, tmp_path)
    pause_set(actor=cli, entrypoint="demo.sleep", reason="upstream down")
    return {}


def _nothing(cli, tmp_path):
    submit(cli, 1)
    return {}


def _setup_rollup(cli, tmp_path):
    # Test data: what the job table's trigger leaves after three runs of reports.build this hour.
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    JobRollup.objects.create(
        bucket_start=hour, entrypoint="reports.build", succeeded=3, run_count=3, run_ms=360, run_le_250=3
    )
    return {}


SCENARIOS = {
    "submit-batch": (
        _nothing,
        lambda out, env, tmp_path: (
            [(i["created"], i["job"]["priority"]) for i in json.loads(out)["items"]]
            == [(True, "normal"), (True, "high")]
        ),
    ),
    "dlq-inspect": (_setup_dlq_inspect, _check_dlq_inspect),
    "dlq-retry-one": (_setup_one_dead, _check_retry_one),
    "dlq-retry-all": (
        lambda cli, tmp_path: dead(cli, 2) and {},
        lambda out, env, tmp_path: _operation_started(json.loads(out), total=2),
    ),
    "operation-progress": (
        _setup_operation,
        lambda out, env, tmp_path: (json.loads(out)["state"], json.loads(out)["done"]) == ("done", 2),
    ),
    "dlq-clear": (
        _setup_one_dead,
        lambda out, env, tmp_path: json.loads(out)["removed"] == 1 and not DLQEntry.objects.exists(),
    ),
    "dlq-clean-expired": (
        _setup_expired_entry,
        lambda out, env, tmp_path: json.loads(out) == {"removed": 1},
    ),
    "backpressure-stats": (
        _nothing,
        lambda out, env, tmp_path: (json.loads(out)["queued"], json.loads(out)["backpressureActive"]) == (1, False),
    ),
    "cancel-low-priority": (
        _setup_low_priority,
        lambda out, env, tmp_path: (
            json.loads(out) == {"canceled": 2} and Job.objects.filter(status=Status.QUEUED).count() == 1
        ),
    ),
    "increase-capacity": (
        _nothing,
        lambda out, env, tmp_path: (
            json.loads(out)["queue"]["maxConcurrent"] == 5 and config_get().queue.maxQueueSize == 200
        ),
    ),
    "approvals-waiting": (
        _setup_waiting,
        lambda out, env, tmp_path: [j["id"] for j in json.loads(out)["items"]] == [env["JOB_ID"]],
    ),
    "approvals-expiring": (
        _setup_expiring,
        lambda out, env, tmp_path: [j["id"] for j in json.loads(out)["items"]] == [env["JOB_ID"]],
    ),
    "force-check": (
        _setup_waiting,
        lambda out, env, tmp_path: (json.loads(out)["approved"], json.loads(out)["expired"]) == (False, False),
    ),
    "worker-stats": (
        _setup_worker,
        lambda out, env, tmp_path: (
            [(w["name"], w["running"], w["processed"]) for w in json.loads(out)["items"]]
            == [("celery@docs:1", True, 3)]
        ),
    ),
    "worker-disable": (
        _nothing,
        lambda out, env, tmp_path: json.loads(out) == {"enabled": False} and not config_get().worker.enabled,
    ),
    "store-stats": (
        _nothing,
        lambda out, env, tmp_path: (json.loads(out)["queued"], json.loads(out)["total"]) == (1, 1),
    ),
    "export-jsonl": (
        _nothing,
        lambda out, env, tmp_path: (
            [json.loads(line)["entrypoint"] for line in (tmp_path / "jobs.jsonl").read_text().splitlines()]
            == ["demo.noop"]
        ),
    ),
    "import-jsonl": (
        _setup_import_file,
        lambda out, env, tmp_path: json.loads(out) == {"imported": 1, "interrupted": 0, "duplicates": 0, "skipped": []},
    ),
    "health": (
        _one_worker_alive,
        lambda out, env, tmp_path: (
            (json.loads(out)["status"], json.loads(out)["data"]["jobs"]["store"]["queued"]) == ("healthy", 1)
        ),
    ),
    "pause-entrypoint": (
        _setup_sleeping,
        lambda out, env, tmp_path: (
            (json.loads(out)["paused"]["what"], json.loads(out)["paused"]["queued"]) == ("demo.sleep", 1)
            and Pause.objects.filter(entrypoint="demo.sleep").exists()
        ),
    ),
    "resume-entrypoint": (
        _setup_paused,
        lambda out, env, tmp_path: (
            json.loads(out) == {"resumed": "demo.sleep", "queued": 1} and not Pause.objects.exists()
        ),
    ),
    "history": (
        _setup_rollup,
        lambda out, env, tmp_path: (
            (json.loads(out)["entrypoint"], json.loads(out)["total"]["totals"]["succeeded"]) == ("reports.build", 3)
        ),
    ),
    "force-fail-running": (
        _setup_running,
        lambda out, env, tmp_path: json.loads(out) == {"failed": 1} and DLQEntry.objects.count() == 1,
    ),
}


# The runbook snippets the page must cover.
def _operation_started(answer: dict, *, total: int) -> bool:
    operation = answer["operation"]
    return (operation["kind"], operation["state"], operation["total"]) == ("dlq.retry_all", "pending", total)


RUNBOOK = {
    "dlq-inspect",
    "dlq-retry-one",
    "dlq-retry-all",
    "dlq-clear",
    "dlq-clean-expired",
    "backpressure-stats",
    "cancel-low-priority",
    "approvals-waiting",
    "approvals-expiring",
    "force-check",
    "worker-stats",
    "store-stats",
    "force-fail-running",
}


def test_it_documents_every_runbook_snippet_and_tests_every_block():
    documented = set(blocks())

    assert documented >= RUNBOOK
    assert documented == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_it_runs_the_documented_curl_call(name, live_server, users, cli, tmp_path, request):
    if name == "force-check":
        request.getfixturevalue("fake_github")  # a force check asks GitHub, here a fake on loopback
    setup, check = SCENARIOS[name]
    env = {"BASE": live_server.url, "TOKEN": Api(users["admin"]).token, **setup(cli, tmp_path)}

    out = run(blocks()[name], env, tmp_path)

    assert check(out, env, tmp_path), out
