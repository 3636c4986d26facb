"""Failures around the engine: a worker killed with SIGKILL mid-job, and a broker that is down."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from jobs.engine.reconciler import WORKER_LOST_ERROR
from jobs.models import DLQEntry, Event, Job, Status
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from jobs.services.tokens import token_create
from tests.support.processes import ROOT, process_env, start_beat, wait_for
from tests.support.servers import OwnRedis, Web

pytestmark = pytest.mark.workers


@pytest.fixture
def fast_retries(cli, transactional_db, roles):
    config_update(actor=cli, changes={"worker": {"retryDelayMs": 200}, "queue": {"maxConcurrent": 3}})


def test_it_recovers_jobs_of_a_worker_killed_with_sigkill(workers, beat, cli, fast_retries):
    """Two workers die mid-job: one job is retried elsewhere, the one out of attempts goes to the DLQ."""
    retried, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 3}, max_attempts=2)
    dead, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 3, "n": 2}, max_attempts=1)
    processes = workers(3)
    beat()

    def both_running():
        rows = list(Job.objects.filter(id__in=[retried.id, dead.id], status=Status.RUNNING).values("id", "worker"))
        return rows if len(rows) == 2 else None

    running = wait_for(both_running, timeout=20, message="both jobs running")
    by_pid = {process.pid: process for process in processes}
    victims = {row["id"]: by_pid[int(row["worker"].rsplit(":", 1)[1])] for row in running}
    for process in victims.values():
        process.kill9()

    # The lease (3 s here) runs out, the reconciler recovers both, the last worker runs the retry.
    wait_for(
        lambda: (
            Job.objects.filter(id=retried.id, status=Status.SUCCEEDED).exists()
            and Job.objects.filter(id=dead.id, status=Status.FAILED).exists()
        ),
        timeout=40,
        message="the retried job succeeded and the other failed",
    )
    retried.refresh_from_db()
    dead.refresh_from_db()
    assert retried.attempts == 2
    assert retried.last_error.startswith(WORKER_LOST_ERROR)
    assert retried.worker not in {row["worker"] for row in running}
    assert [e.type for e in Event.objects.filter(job_id=retried.id).order_by("id")] == [
        "job:submitted",
        "job:started",
        "job:retrying",
        "job:started",
        "job:succeeded",
    ]
    entry = DLQEntry.objects.get(job=dead)
    assert entry.attempts == 1 and entry.last_error.startswith(WORKER_LOST_ERROR)
    assert not Job.objects.filter(status__in=[Status.RUNNING, Status.QUEUED]).exists(), "none lost or stuck"


def test_it_keeps_a_job_submitted_while_the_broker_is_down_and_runs_it_once_it_is_back(
    workers, cli, fast_retries, make_user, tmp_path
):
    _, token = token_create(actor=cli, user=make_user("operator"))
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        env = process_env(REDIS_URL=redis.url)
        workers(1, env=env)
        beat = start_beat(tmp_path, env=env)
        web = Web(tmp_path, env)
        try:
            # Everything talks to this broker: a job submitted over HTTP runs.
            status, before, _ = web.submit(token, {"before": "outage"})
            assert status == 201
            wait_for(lambda: Job.objects.filter(id=before["id"], status=Status.SUCCEEDED).exists(), timeout=30)

            redis.stop()
            assert not redis.answers()
            status, during, took = web.submit(token, {"during": "outage"})
            assert status == 201 and during["status"] == "queued"
            assert took < 10, f"the request took {took:.1f}s with the broker down"
            # Published after the answer, by the web process's outbox thread, which fails.
            wait_for(
                lambda: Job.objects.get(id=during["id"]).published_at is None,
                timeout=15,
                message="kept, and marked for the reconciler to publish",
            )
            wait_for(lambda: "could not publish" in web.process.log(), timeout=15, message="the failure logged")
            job = Job.objects.get(id=during["id"])

            time.sleep(1.5)  # the outage goes on: the job waits, nothing fails
            job.refresh_from_db()
            assert job.status == Status.QUEUED

            redis.start()
            wait_for(
                lambda: Job.objects.filter(id=job.id, status=Status.SUCCEEDED).exists(),
                timeout=60,
                message="the job ran after the broker came back",
            )
            job.refresh_from_db()
            assert job.attempts == 1
            # The web process publishes again on its own once the broker is back.
            status, after, _ = web.submit(token, {"after": "outage"})
            wait_for(lambda: Job.objects.filter(id=after["id"], status=Status.SUCCEEDED).exists(), timeout=30)
        finally:
            web.process.stop()
            beat.stop()
    finally:
        redis.stop()


def test_it_does_not_hang_a_submit_on_a_broker_that_accepts_but_never_answers(transactional_db, roles, cli, tmp_path):
    """A half-dead broker (TCP accepted, no reply) costs a bounded wait, not a hung request."""
    with socket.socket() as tarpit:
        tarpit.bind(("127.0.0.1", 0))
        tarpit.listen(64)
        url = f"redis://127.0.0.1:{tarpit.getsockname()[1]}/0"
        started = time.monotonic()
        submit = subprocess.run(
            [sys.executable, "manage.py", "jobs", "submit", "demo.noop", "--params", '{"tarpit": true}'],
            cwd=ROOT,
            env=process_env(REDIS_URL=url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
    assert submit.returncode == 0, submit.stderr
    assert took < 15, f"submit took {took:.1f}s against a broker that never answers"
    job = Job.objects.get(params={"tarpit": True})
    assert job.status == Status.QUEUED and job.published_at is None
