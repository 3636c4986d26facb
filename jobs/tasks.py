"""Celery tasks: thin; they take ids, and call one service or the engine."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_process_init

from jobs import task_names
from jobs.engine import reconciler, runtime, wakeups
from jobs.services import operations


@worker_process_init.connect
def _announce_worker(sender=None, **kwargs) -> None:
    """Start this process's heartbeat at once, so an idle worker shows as alive.

    Sent in each prefork child and by the solo pool; ``sender`` is the node name.
    """
    runtime.WorkerRuntime.current(str(sender) if sender else None)


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
