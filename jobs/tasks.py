"""Celery tasks: thin; they take ids, and call one service or the engine."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from celery import shared_task
from celery.signals import task_prerun, worker_process_init, worker_shutting_down

from jobs import task_names
from jobs.engine import reconciler, runtime, wakeups
from jobs.services import operations

# Sent by a worker's main process to its busy prefork children when it shuts down.
GIVE_BACK_SIGNAL = signal.SIGUSR2


@worker_process_init.connect
def _announce_worker(sender=None, **kwargs) -> None:
    """Start this process's heartbeat at once, so an idle worker shows as alive.

    Sent in each prefork child and by the solo pool; ``sender`` is the node name.
    """
    runtime.WorkerRuntime.current(str(sender) if sender else None)


@task_prerun.connect
def _listen_for_shutdown(**kwargs) -> None:
    """A prefork child learns of its worker's warm shutdown from GIVE_BACK_SIGNAL.

    Installed as each task starts, not at worker_process_init: billiard sets its own
    handler for that signal after the initializer (sigprotection), which would end
    the child instead. Only the main thread can install a handler (not a threads-pool
    thread, whose jobs the main process interrupts itself).
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(GIVE_BACK_SIGNAL) is not _on_give_back_signal:
        signal.signal(GIVE_BACK_SIGNAL, _on_give_back_signal)


def _on_give_back_signal(signum, frame) -> None:
    runtime.WorkerRuntime.shut_down_current()


@worker_shutting_down.connect
def _give_back_running_jobs(sender=None, how: str = "", **kwargs) -> None:
    """A warm (or cold) shutdown began: running jobs go back to the queue, attempts not counted.

    Runs in the worker's main process, inside Celery's signal handler: the solo and
    threads pools run jobs in this process; each prefork child busy with a task is
    sent GIVE_BACK_SIGNAL (an idle one has nothing to give back, and may not listen
    yet). Without this, a warm shutdown waits for every running job to end, and a
    stop that cannot wait (``make run`` stopped, a deploy) kills it, which costs the
    job an attempt.
    """
    from celery.worker import state as worker_state

    runtime.WorkerRuntime.shut_down_current()
    children = {request.worker_pid for request in list(worker_state.active_requests)} - {None, os.getpid()}
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
