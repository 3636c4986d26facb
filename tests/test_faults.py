"""The fault suite (``make faults``): the engine, the web and background operations broken on purpose.

Real processes on this machine's PostgreSQL and Redis, plus servers the tests start
(gunicorn, a redis-server of their own). A PostgreSQL restart is what it is to its
clients: the database refuses new connections for a while and every open one is cut.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from psycopg import sql

from jobs.engine.reconciler import WORKER_LOST_ERROR
from jobs.models import BackgroundOperation, DLQEntry, Event, Job, Status
from jobs.services.config import config_update
from jobs.services.operations import dlq_retry_all_start
from jobs.services.submission import job_submit
from jobs.services.tokens import token_create
from tests.support import faults
from tests.support.console import make_dead_letters
from tests.support.faults import FaultResult, Load
from tests.support.processes import CHILD_APPLICATION_NAME, process_env, start_beat, wait_for
from tests.support.servers import OwnRedis, Web

pytestmark = [pytest.mark.workers, pytest.mark.faults]


@contextmanager
def postgresql_down(seconds: float):
    """As a restart looks to its clients: new connections refused for ``seconds``, every open one cut.

    Done from the server's maintenance database. The clients are the processes the test
    started (their sessions are named CHILD_APPLICATION_NAME); the test's own, which watch,
    are spared.
    """
    database = connection.settings_dict
    admin = psycopg.connect(
        host=database["HOST"] or "127.0.0.1", port=database["PORT"] or 5432, user=database["USER"] or "postgres",
        password=database["PASSWORD"] or None, dbname="postgres", autocommit=True,
    )  # fmt: skip
    name = sql.Identifier(database["NAME"])
    try:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        (cut,) = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s",
            [database["NAME"], CHILD_APPLICATION_NAME],
        ).fetchone()
        time.sleep(seconds)
        yield cut
    finally:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
        admin.close()


def test_after_a_postgresql_restart_the_web_answers_the_next_request(transactional_db, roles, cli, make_user, tmp_path):
    _, token = token_create(actor=cli, user=make_user("viewer"))
    web = Web(tmp_path, process_env())
    try:
        assert web.get(token, "/api/queue/stats") == 200  # gunicorn's worker holds a connection now
        with postgresql_down(1) as cut:
            assert cut >= 1
        timed = []
        for _ in range(5):
            started = time.monotonic()
            timed.append((web.get(token, "/api/queue/stats"), time.monotonic() - started))
    finally:
        web.process.stop()
    statuses = [status for status, _ in timed]
    faults.RESULTS.append(
        FaultResult(
            "PostgreSQL restarted (web)",
            kills=1,
            requests=len(timed),
            server_errors=sum(status >= 500 for status in statuses),
            max_request_seconds=max(took for _, took in timed),
        )
    )
    assert statuses == [200] * 5, "no request answers 500 after the database came back"


def test_a_job_that_runs_through_a_postgresql_restart_keeps_its_outcome(workers, beat, cli):
    """The outcome write is tried again on a new connection instead of the run being lost."""
    config_update(actor=cli, changes={"worker": {"retryDelayMs": 200}})
    job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 3})
    # A lease longer than the outage, as in production (30 s against a restart of seconds).
    env = process_env(JOBS_LEASE_SECONDS="20")
    workers(1, env=env)
    beat(env=env)
    wait_for(lambda: Job.objects.filter(id=job.id, status=Status.RUNNING).exists(), timeout=30, message="running")

    with postgresql_down(4):
        pass

    wait_for(lambda: Job.objects.get(id=job.id).is_final, timeout=60, message="the job ended")
    faults.RESULTS.append(
        FaultResult(
            "PostgreSQL restarted (4 s) under a running job",
            jobs=1,
            kills=1,
            lost=faults.lost([job.id]),
            duplicate_runs=Event.objects.filter(job_id=job.id, type="job:started").count() - 1,
        )
    )
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.attempts == 1
    assert job.result == {"slept": 3.0}
    types = list(Event.objects.filter(job_id=job.id).order_by("id").values_list("type", flat=True))
    assert types == ["job:submitted", "job:started", "job:succeeded"]
    assert not Event.objects.filter(data__error__startswith=WORKER_LOST_ERROR).exists()


def test_a_retry_all_whose_worker_is_killed_resumes_elsewhere_and_retries_each_entry_once(workers, beat, cli):
    # The retried jobs wait (the system is disabled), so what is counted is only what the retry-all did.
    config_update(actor=cli, changes={"worker": {"enabled": False}, "queue": {"maxQueueSize": 100_000}})
    originals = make_dead_letters(6000, prefix="fault")
    operation = dlq_retry_all_start(actor=cli, reason="upstream is back")
    [victim] = workers(1)
    wait_for(
        lambda: BackgroundOperation.objects.filter(id=operation.id, state="running").exists(),
        timeout=30,
        interval=0.02,
        message="the operation running",
    )
    victim.kill9()
    running = BackgroundOperation.objects.get(id=operation.id)
    assert running.state == "running" and running.worker.startswith("w1@")

    workers(1)
    beat()
    wait_for(
        lambda: BackgroundOperation.objects.get(id=operation.id).state == "done",
        timeout=90,
        message="the operation resumed and finished",
    )
    finished = BackgroundOperation.objects.get(id=operation.id)
    retries = Job.objects.filter(retried_from_id__in=originals)
    faults.RESULTS.append(
        FaultResult(
            "retry-all of 6,000 DLQ entries, its worker killed",
            jobs=6000,
            kills=1,
            lost=6000 - retries.values("retried_from_id").distinct().count(),
            duplicate_runs=retries.count() - retries.values("retried_from_id").distinct().count(),
        )
    )
    assert finished.done == finished.total == 6000 and finished.result == {"retried": 6000}
    assert not DLQEntry.objects.filter(job_id__in=originals).exists()
    retries = Job.objects.filter(retried_from_id__in=originals)
    assert retries.count() == 6000 and retries.values("retried_from_id").distinct().count() == 6000
    assert finished.worker == "" and finished.lease_expires_at is None


# -- kill -9 in every pool, under load ---------------------------------------------------------


def _worker_pid(job: Job) -> int:
    return int(job.worker.rsplit(":", 1)[1])


@pytest.mark.parametrize("pool", ["solo", "prefork", "threads"])
def test_kill_9_of_workers_running_jobs_longer_than_the_lease_loses_nothing_and_runs_nothing_twice(
    pool, workers, beat, cli, make_user, tmp_path
):
    """Jobs of 4 s (the lease is 3 s here) while workers running them are killed, and submissions go on."""
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 4}, "worker": {"retryDelayMs": 200}})
    jobs = [
        job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": 4, "n": n}, max_attempts=20)[0]
        for n in range(8)
    ]
    started = workers(2, pool=pool, concurrency=2)
    beat()
    _, token = token_create(actor=cli, user=make_user("operator"))
    web = Web(tmp_path, process_env())
    web.submit(token, {"warm": "up"})  # gunicorn's worker loads the app on its first request
    result = FaultResult(f"kill -9, {pool} pool, jobs longer than the lease")
    killed_at: dict[int, object] = {}
    try:
        with Load(web, token) as load:
            for _ in range(60):  # at most 60 rounds of 0.5 s; stops after 5 kills
                if result.kills >= 5:
                    break
                running = [job for job in Job.objects.filter(status=Status.RUNNING) if job.worker]
                if running:
                    pid = _worker_pid(running[0])
                    if pid not in killed_at:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                        else:
                            killed_at[pid] = timezone.now()
                            result.kills += 1
                            if pool != "prefork":  # prefork starts a new child itself
                                started += workers(1, pool=pool, concurrency=2, prefix=f"r{result.kills}-")
                time.sleep(0.5)
        ids = [job.id for job in jobs] + [uuid.UUID(str(i)) for i in load.ids]
        wait_for(lambda: faults.lost(ids) == 0, timeout=120, message="every job ended")
    finally:
        web.process.stop()
    result.jobs = len(ids)
    result.lost = faults.lost(ids)
    result.duplicate_runs = faults.duplicate_concurrent_runs(ids, killed_at)
    result.requests = len(load.latencies) + load.server_errors
    result.server_errors = load.server_errors
    result.max_request_seconds = max(load.latencies, default=0.0)
    faults.RESULTS.append(result)

    assert result.kills >= 3, "the loop killed workers running jobs"
    assert result.lost == 0 and result.duplicate_runs == 0
    assert Job.objects.filter(id__in=ids, status=Status.SUCCEEDED).count() == len(ids)
    assert result.server_errors == 0 and result.max_request_seconds < 1.0


# -- the broker killed, then hung ---------------------------------------------------------------


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_a_broker_killed_or_hung_for_five_seconds_loses_no_job(fault, workers, cli, make_user, tmp_path):
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 4}, "worker": {"retryDelayMs": 200}})
    redis = OwnRedis(tmp_path)
    redis.start()
    env = process_env(REDIS_URL=redis.url)
    workers(2, env=env)
    beat = start_beat(tmp_path, env=env)
    _, token = token_create(actor=cli, user=make_user("operator"))
    web = Web(tmp_path, env)
    web.submit(token, {"warm": "up"})
    result = FaultResult(f"Redis {fault} for 5 s")
    try:
        with Load(web, token) as load:
            time.sleep(1)
            pid = redis.process.popen.pid
            if fault == "killed":
                redis.process.kill9()
                time.sleep(5)
                redis.start()
            else:
                os.kill(pid, signal.SIGSTOP)
                time.sleep(5)
                os.kill(pid, signal.SIGCONT)
            result.kills = 1
            time.sleep(2)
        ids = [uuid.UUID(str(i)) for i in load.ids]
        wait_for(lambda: faults.lost(ids) == 0, timeout=120, message="every job ran once the broker was back")
    finally:
        web.process.stop()
        beat.stop()
        redis.stop()
    result.jobs = len(ids)
    result.lost = faults.lost(ids)
    result.duplicate_runs = faults.duplicate_concurrent_runs(ids, {})
    result.requests = len(load.latencies) + load.server_errors
    result.server_errors = load.server_errors
    result.max_request_seconds = max(load.latencies, default=0.0)
    faults.RESULTS.append(result)

    assert result.lost == 0 and result.duplicate_runs == 0 and result.server_errors == 0
    assert Job.objects.filter(id__in=ids, status=Status.SUCCEEDED).count() == len(ids)
    # Killed or hung, no request waits on the broker: the outbox thread publishes after the answer.
    assert result.max_request_seconds < 1.0
