"""Django's Tasks framework (``django.tasks``) on the jobs engine: a ``@task`` as an entry point.

A task's job has the entry point ``task:<module path>`` (``shop.tasks.send_receipt``)
and the params ``{"args": [...], "kwargs": {...}}``. The worker imports the task by
its path, as Django's own backends do, but only from an installed app or a module
of JOBS_ENTRYPOINT_MODULES: a job row (or a JSONL import) cannot make a worker
import an arbitrary module.

Priorities: the framework's whole numbers (-100..100, default 0) fall into the
engine's four, in bands (PRIORITY_BANDS); a task's result gives back the priority
it was enqueued with when it lies in the job's band, else the band's own value.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.utils.module_loading import import_string

from jobs.entrypoints import JobContext, resolver
from jobs.models import Event, Job, Priority, Status

PREFIX = "task:"

# (lowest framework priority of the band, engine priority, the band's value when read back)
PRIORITY_BANDS = (
    (90, Priority.CRITICAL, 100),
    (34, Priority.HIGH, 50),
    (-33, Priority.NORMAL, 0),
    (-100, Priority.LOW, -50),
)

_STATUSES = {
    Status.WAITING_APPROVAL: TaskResultStatus.READY,
    Status.QUEUED: TaskResultStatus.READY,
    Status.RUNNING: TaskResultStatus.RUNNING,
    Status.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    Status.FAILED: TaskResultStatus.FAILED,
    Status.CANCELED: TaskResultStatus.FAILED,
}


class JobStopped(Exception):
    """Stands for an attempt that raised nothing the worker saw: the job was canceled or
    force-failed by an operator, or the reconciler ended it (worker lost, time-out)."""


def entrypoint_name(task: Task) -> str:
    return PREFIX + task.module_path


def priority_of(task_priority: int) -> Priority:
    """The engine priority of a framework priority (-100..100)."""
    return next(engine for lowest, engine, _ in PRIORITY_BANDS if task_priority >= lowest)


def _band_value(engine_priority: int) -> int:
    return next(value for _, engine, value in PRIORITY_BANDS if engine == engine_priority)


def _importable(module: str) -> bool:
    """Whether a job may make this process import ``module``."""
    if module in sys.modules:
        return True
    allowed = [config.name for config in apps.get_app_configs()] + list(settings.JOBS_ENTRYPOINT_MODULES)
    return any(module == root or module.startswith(root + ".") for root in allowed)


def task_at(path: str) -> Task | None:
    """The Task object at ``path`` (module.qualname), or None when there is none to run."""
    module = path.rpartition(".")[0]
    if not module or not _importable(module):
        return None
    try:
        if importlib.util.find_spec(module) is None:
            return None
        found = import_string(path)
    except (ImportError, ValueError):
        return None
    return found if isinstance(found, Task) else None


@dataclass(frozen=True)
class TaskEntrypoint:
    """Runs a Task's function with the job's args and kwargs (and its context, if it takes one)."""

    task: Task

    def __call__(self, ctx: JobContext, *, args: list | None = None, kwargs: dict | None = None) -> Any:
        args, kwargs = args or [], kwargs or {}
        if self.task.takes_context:
            job = Job.objects.get(id=ctx.job_id)
            return self.task.call(TaskContext(task_result=task_result(job, self.task)), *args, **kwargs)
        return self.task.call(*args, **kwargs)


@resolver(PREFIX)
def resolve(path: str) -> TaskEntrypoint | None:
    task = task_at(path)
    return TaskEntrypoint(task) if task is not None else None


def task_result(job: Job, task: Task | None = None) -> TaskResult:
    """The job as the framework's TaskResult: status, value, errors with tracebacks, attempts."""
    task = task or task_at(job.entrypoint.removeprefix(PREFIX))
    if task is None:
        raise LookupError(f"task {job.entrypoint.removeprefix(PREFIX)!r} cannot be imported here")
    priority = task.priority if priority_of(task.priority) == job.priority else _band_value(job.priority)
    # run_after as enqueued is known while the job waits for its first attempt; later
    # next_attempt_at is the retry backoff's, which the framework does not call run_after.
    deferred = job.attempts == 0 and job.next_attempt_at > job.created_at
    as_enqueued = task.using(
        priority=priority, queue_name=job.queue_name, run_after=job.next_attempt_at if deferred else None
    )
    workers, errors = _attempts(job)
    result: TaskResult = TaskResult(
        task=as_enqueued,
        id=str(job.id),
        status=_STATUSES[Status(job.status)],
        enqueued_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.completed_at,
        last_attempted_at=job.started_at,
        args=job.params.get("args", []),
        kwargs=job.params.get("kwargs", {}),
        backend=task.backend,
        errors=errors,
        worker_ids=workers,
    )
    object.__setattr__(result, "_return_value", job.result)
    return result


def _attempts(job: Job) -> tuple[list[str], list[TaskError]]:
    """The worker of each attempt and the error of each failed one, from the job's events."""
    workers: list[str] = []
    errors: list[TaskError] = []
    events = Event.objects.filter(job_id=job.id, type__in=["job:started", "job:retrying", "job:failed"]).order_by("id")
    for event in events:
        if event.type == "job:started":
            workers.append(event.data.get("worker", ""))
        else:
            errors.append(_error_of(event.data))
    if job.status == Status.CANCELED:
        errors.append(TaskError(exception_class_path=_path(JobStopped), traceback=f"Canceled: {job.status_reason}"))
    return workers, errors


def _error_of(data: dict[str, Any]) -> TaskError:
    if data.get("exception"):
        return TaskError(exception_class_path=data["exception"], traceback=data.get("traceback", ""))
    return TaskError(exception_class_path=_path(JobStopped), traceback=data.get("error", ""))


def _path(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"
