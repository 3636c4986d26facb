"""A Django Tasks backend (``django.tasks``) that enqueues into the jobs engine.

    TASKS = {"default": {"BACKEND": "jobs.tasks_backend.JobsBackend"}}

Every ``.enqueue()`` of a ``@task`` becomes a job (entry point ``task:<module
path>``) that the Celery workers run under the engine's rules, and that the
console, the API and the CLI show and act on like any other: retried with
backoff, added to the DLQ, retried, canceled, force-failed, approved.
``get_result()`` reads the job back as a TaskResult. jobs.entrypoints.django_tasks
says how the framework's fields map onto the job.

OPTIONS: ``MAX_ATTEMPTS`` (1..100) overrides worker.maxAttempts for this
backend's tasks. ``QUEUES`` lists the queue names a task may use (Django's
default: only "default"); the engine admits every queue in one order.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core import checks
from django.core.exceptions import ValidationError
from django.tasks import Task, TaskResult
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils.json import normalize_json

from jobs.entrypoints import django_tasks
from jobs.models import Job


class JobsBackend(BaseTaskBackend):
    supports_defer = True  # run_after: the reconciler publishes the job once due
    supports_async_task = True  # an async def task runs to completion in the worker
    supports_get_result = True  # from any process: the job row is the result
    supports_priority = True  # in four bands, see jobs.entrypoints.django_tasks

    def enqueue(self, task: Task, args, kwargs) -> TaskResult:
        """Submit the task as a job; nothing is stored when an argument is not JSON."""
        from jobs.services.audit import Actor
        from jobs.services.submission import job_submit

        self.validate_task(task)
        job, _ = job_submit(
            actor=Actor.system("django.tasks"),
            entrypoint=django_tasks.entrypoint_name(task),
            params=_json_arguments(task, args, kwargs),
            priority=django_tasks.priority_of(task.priority).label,
            max_attempts=self.options.get("MAX_ATTEMPTS"),
            # Every enqueue is a run of its own, as the framework defines it: no jobKey deduplication.
            job_key=f"{django_tasks.PREFIX}{uuid.uuid4()}",
            run_after=task.run_after,
            queue_name=task.queue_name,
        )
        result = django_tasks.task_result(job, task)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: Any) -> TaskResult:
        try:
            job = Job.objects.get(id=result_id, entrypoint__startswith=django_tasks.PREFIX)
        except (Job.DoesNotExist, ValidationError, ValueError):
            raise TaskResultDoesNotExist(result_id) from None
        try:
            return django_tasks.task_result(job)
        except LookupError as exc:  # the task's code is gone from this deployment
            raise TaskResultDoesNotExist(f"{result_id}: {exc}") from None

    def check(self, **kwargs) -> list[checks.CheckMessage]:
        from django.apps import apps

        if apps.is_installed("jobs"):
            return []
        return [checks.Error("JobsBackend needs 'jobs' in INSTALLED_APPS.", id="jobs.E001")]


def _json_arguments(task: Task, args, kwargs) -> dict[str, Any]:
    """The job's params, or a TypeError naming the argument JSON cannot hold."""
    named = [(f"argument {n + 1}", value) for n, value in enumerate(args)]
    named += [(f"argument {key!r}", value) for key, value in kwargs.items()]
    for label, value in named:
        try:
            json.dumps(normalize_json(value), allow_nan=False)  # PostgreSQL's jsonb has no NaN
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{label} of task {task.module_path} is not JSON-serialisable ({exc}); "
                "pass ids or plain values and load objects inside the task"
            ) from None
    return {"args": normalize_json(list(args)), "kwargs": normalize_json(dict(kwargs))}
