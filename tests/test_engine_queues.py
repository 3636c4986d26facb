"""Control work never waits behind job traffic (jobs/queues.py): with 150 job wake-ups
queued and every worker process busy running jobs, a retry-all starts within seconds,
on Redis and on the embedded broker (Kombu's file-system transport)."""

from __future__ import annotations

import time

import pytest
import yaml
from celery import Celery

from jobs import queues, task_names
from jobs.engine.wakeups import publish
from jobs.models import BackgroundOperation, Job
from jobs.services.config import config_update
from jobs.services.lifecycle import job_force_fail
from jobs.services.operations import dlq_retry_all_start
from jobs.services.submission import job_submit
from tests.support.processes import ROOT, process_env, wait_for

BUSY_JOBS = 150
JOB_SECONDS = 0.5


def busy_queue(cli) -> list[str]:
    """Three DLQ entries to retry, then 150 half-second jobs: 37 s of work for two slots."""
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 2, "maxQueueSize": 10_000}})
    for n in range(3):
        dead, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"dead": n})
        job_force_fail(actor=cli, job_id=dead.id, reason="upstream down")
    ids = []
    for n in range(BUSY_JOBS):
        job, _ = job_submit(actor=cli, entrypoint="demo.sleep", params={"seconds": JOB_SECONDS, "n": n})
        ids.append(str(job.id))
    return ids


def started(operation_id) -> bool:
    return BackgroundOperation.objects.get(id=operation_id).state != BackgroundOperation.State.PENDING


@pytest.mark.workers
def test_it_starts_a_retry_all_within_seconds_behind_150_wake_ups_on_redis(cli, workers, redis_client, api):
    ids = busy_queue(cli)
    publish(ids)  # as the reconciler does, past the gate: one wake-up per job
    wait_for(lambda: redis_client.llen("celery") >= BUSY_JOBS, timeout=10, message="wake-ups queued")
    # One worker, two processes, two slots: both processes drain half-second jobs.
    workers(1, pool="prefork", concurrency=2)
    wait_for(lambda: Job.objects.running().count() == 2, timeout=30, message="both processes running jobs")

    asked = time.monotonic()
    operation = api("operator").post("/api/dlq/retry-all", {"reason": "upstream back"}).json()["operation"]
    wait_for(lambda: started(operation["id"]), timeout=15, interval=0.05, message="retry-all started")
    waited = time.monotonic() - asked

    print(f"retry-all started {waited:.1f} s after it was asked, {redis_client.llen('celery')} wake-ups still queued")
    assert waited < 6
    assert redis_client.llen("celery") > BUSY_JOBS / 2, "it went ahead of the wake-ups, not after them"
    assert Job.objects.queued().count() > BUSY_JOBS / 2, "while the jobs were still being worked through"


def filesystem_app(folder) -> Celery:
    """A producer on the embedded broker, configured as jobsconsole/settings.py does without REDIS_URL."""
    broker = folder / "broker"
    for sub in ("queue", "processed", "control"):
        (broker / sub).mkdir(parents=True, exist_ok=True)
    app = Celery("producer", set_as_current=False)
    app.conf.update(
        broker_url="filesystem://localhost//",
        broker_transport_options={
            "data_folder_in": str(broker / "queue"),
            "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"),
            "store_processed": False,
            "control_folder": str(broker / "control"),
        },
        task_queues=queues.task_queues(),
        task_routes=queues.TASK_ROUTES,
    )
    return app


@pytest.mark.workers
def test_it_starts_a_retry_all_within_seconds_behind_150_wake_ups_on_the_embedded_broker(cli, workers, tmp_path):
    ids = busy_queue(cli)
    producer = filesystem_app(tmp_path)
    for job_id in ids:
        producer.send_task(task_names.RUN_JOBS, args=[job_id], task_id=job_id)
    workers(1, pool="prefork", concurrency=2, env=process_env(REDIS_URL="", JOBS_VAR_DIR=str(tmp_path)))
    wait_for(lambda: Job.objects.running().count() == 2, timeout=30, message="both processes running jobs")

    asked = time.monotonic()
    operation = dlq_retry_all_start(actor=cli, reason="upstream back", background=False)
    producer.send_task(task_names.RUN_OPERATION, args=[str(operation.id)])
    wait_for(lambda: started(operation.id), timeout=15, interval=0.05, message="retry-all started")
    waited = time.monotonic() - asked

    queued_messages = len(list((tmp_path / "broker" / "queue").glob("*.celery.msg")))
    print(f"retry-all started {waited:.1f} s after it was asked, {queued_messages} wake-ups still queued")
    assert waited < 6
    assert queued_messages > BUSY_JOBS / 2, "it went ahead of the wake-ups, not after them"


def test_every_worker_command_consumes_the_control_queue_beside_the_wake_ups():
    from jobsconsole.celery import app

    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name, (), {})["queue"].name

    assert [queue.name for queue in app.conf.task_queues] == [queues.CONTROL_QUEUE, "celery"]
    assert {name: queue_of(name) for name in queues.CONTROL_TASKS} == dict.fromkeys(
        queues.CONTROL_TASKS, queues.CONTROL_QUEUE
    )
    assert queue_of(task_names.RUN_JOBS) == "celery"
    # A worker started without -Q consumes every declared queue: none of ours names one.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]["command"]
    unit = (ROOT / "deploy" / "systemd" / "jobs-console-worker@.service").read_text()
    unit_command = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    runconsole = (ROOT / "jobs" / "management" / "commands" / "runconsole.py").read_text()
    shop_settings = (ROOT / "examples" / "shop" / "shop" / "settings.py").read_text()
    for command in (" ".join(compose), unit_command):
        assert "worker" in command and "-Q" not in command.split() and "--queues" not in command
    assert '"-Q"' not in runconsole and '"--queues"' not in runconsole
    assert "CELERY_TASK_QUEUES = queues.task_queues()" in shop_settings
    assert "CELERY_TASK_ROUTES = queues.TASK_ROUTES" in shop_settings
