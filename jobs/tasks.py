"""Celery tasks: thin; they take ids, and call one service or the engine."""

from __future__ import annotations

import contextlib
import os
import signal

from celery import shared_task
from celery.signals import worker_init, worker_process_init, worker_shutting_down

from jobs import task_names
from jobs.engine import reconciler, runtime, wakeups
from jobs.services import operations

# Sent by a worker's main process to its prefork children when it shuts down.
GIVE_BACK_SIGNAL = signal.SIGUSR2
_worker_controller = None  # this worker's WorkController (main process), for its pool's processes


@worker_process_init.connect
def _announce_worker(sender=None, **kwargs) -> None:
    """Start this process's heartbeat at once, so an idle worker shows as alive.

    Sent in each prefork child and by the solo pool; ``sender`` is the node name.
    """
    runtime.WorkerRuntime.current(str(sender) if sender else None)
    # A prefork child learns of its worker's warm shutdown from this signal (sent by
    # _give_back_running_jobs): Celery tells children nothing until their task returns.
    signal.signal(GIVE_BACK_SIGNAL, _on_give_back_signal)


def _on_give_back_signal(signum, frame) -> None:
    runtime.WorkerRuntime.shut_down_current()


@worker_init.connect
def _remember_worker(sender=None, **kwargs) -> None:
    global _worker_controller
    _worker_controller = sender


@worker_shutting_down.connect
def _give_back_running_jobs(sender=None, how: str = "", **kwargs) -> None:
    """A warm (or cold) shutdown began: running jobs go back to the queue, attempts not counted.

    Runs in the worker's main process, inside Celery's signal handler: the solo and
    threads pools run jobs in this process; each prefork child is sent
    GIVE_BACK_SIGNAL. Without this, a warm shutdown waits for every running job to
    end, and a stop that cannot wait (``make run`` stopped, a deploy) kills it,
    which costs the job an attempt.
    """
    runtime.WorkerRuntime.shut_down_current()
    pool = getattr(_worker_controller, "pool", None)
    try:
        children = list(pool.info.get("processes", [])) if pool is not None else []
    except Exception:  # a pool already closed, or one without processes
        children = []
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, GIVE_BACK_SIGNAL)


@shared_task(name=task_names.RUN_JOBS, acks_late=True, ignore_result=True)
def run_jobs(job_id: str | None = None) -> int:
    """A wake-up: admit and run due jobs while a slot is free (the database picks which)."""
    wakeups.wakeup_taken()
    return runtime.drain(runtime.WorkerRuntime.current(run_jobs.request.hostname))


@shared_task(name=task_names.RECONCILE, ignore_result=True)
def reconcile() -> dict:
    return reconciler.reconcile()


@shared_task(name=task_names.RUN_OPERATION, acks_late=True, ignore_result=True)
def run_operation(operation_id: str) -> None:
    process = runtime.WorkerRuntime.current(run_operation.request.hostname)
    with process.running_operation(operation_id):
        operations.operation_run(operation_id, worker=process.name)


@shared_task(name=task_names.POLL_APPROVALS, ignore_result=True)
def poll_approvals() -> dict:
    """The approval watcher's tick (scheduled at approval.pollIntervalMs)."""
    from jobs.github.poll import approvals_poll

    return approvals_poll()


@shared_task(name=task_names.GITHUB_LABEL, ignore_result=True)
def github_label(issue_number: int, label: str, sender: str) -> int:
    """Apply a verified webhook `labeled` delivery (the poll catches it if this is lost)."""
    from jobs.github.poll import label_apply

    return label_apply(issue_number=issue_number, label=label, sender=sender)
