"""A project's existing Celery tasks as entry points: ``celery:<task name>``.

A job with the entry point ``celery:shop.tasks.refund`` and the params
``{"args": [...], "kwargs": {...}}`` runs that registered Celery task's code in
the engine's worker, under the engine's guarantees (admission under
maxConcurrent, retries with backoff, the DLQ, the audit trail), instead of
going through the broker as ``.delay()`` would. jobs.entrypoints.celery_tasks.enqueue
submits one from code; the API takes the same entry point name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Task, current_app

from jobs.entrypoints import JobContext, resolver
from jobs.models import Job

PREFIX = "celery:"

# The engine's own tasks (jobs.tasks) and Celery's built-ins are never run as jobs.
_RESERVED = ("jobs.", "celery.")


def task_named(name: str) -> Task | None:
    if name.startswith(_RESERVED):
        return None
    return current_app.tasks.get(name)


@dataclass(frozen=True)
class CeleryEntrypoint:
    """Calls the task's code in this process: ``task(*args, **kwargs)``, as Celery's tests do."""

    task: Task

    def __call__(self, ctx: JobContext, *, args: list | None = None, kwargs: dict | None = None) -> Any:
        return self.task(*(args or []), **(kwargs or {}))


@resolver(PREFIX)
def resolve(name: str) -> CeleryEntrypoint | None:
    task = task_named(name)
    return CeleryEntrypoint(task) if task is not None else None


def enqueue(task: Task, *args: Any, priority: str = "normal", **kwargs: Any) -> Job:
    """Submit a run of a Celery task as a job (where the code called ``task.delay(*args, **kwargs)``).

    Every call is a new job, as every ``.delay()`` is a new message. Arguments must
    be JSON (Celery's json serializer refuses the same ones); a TypeError says which.
    """
    from jobs.services.audit import Actor
    from jobs.services.submission import job_submit

    params = {"args": list(args), "kwargs": kwargs}
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"arguments of Celery task {task.name!r} must be JSON-serialisable: {exc}") from None
    job, _ = job_submit(
        actor=Actor.system("celery"),
        entrypoint=PREFIX + task.name,
        params=params,
        priority=priority,
        job_key=f"{PREFIX}{uuid.uuid4()}",
    )
    return job
