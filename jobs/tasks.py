"""Celery tasks: thin; they take ids, and call one service."""

from __future__ import annotations

from celery import shared_task

from jobs.services import execution, operations


@shared_task(name="jobs.run_jobs", acks_late=True, ignore_result=True)
def run_jobs(job_id: str | None = None) -> int:
    """A wake-up: admit and run due jobs while a slot is free (the database picks which)."""
    runtime = execution.WorkerRuntime.current(run_jobs.request.hostname)
    return execution.drain(worker=runtime.name)


@shared_task(name="jobs.reconcile", ignore_result=True)
def reconcile() -> dict:
    return execution.reconcile()


@shared_task(name="jobs.run_operation", acks_late=True, ignore_result=True)
def run_operation(operation_id: str) -> None:
    operations.operation_run(operation_id)
