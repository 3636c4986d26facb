"""Registry of the Python callables that jobs run.

    @entrypoint("reports.build")
    def build(ctx: JobContext, *, month: str) -> dict: ...

A job's params are passed as keyword arguments; what the callable returns (JSON)
becomes the job's result. The modules listed in settings.JOBS_ENTRYPOINT_MODULES
are imported at start-up so their decorators run.

Two more kinds of names need no registration: ``task:<module path>`` runs a
``django.tasks`` @task (jobs.entrypoints.django_tasks) and ``celery:<task name>``
a registered Celery task (jobs.entrypoints.celery_tasks).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

_REGISTRY: dict[str, Callable[..., Any]] = {}
type Resolver = Callable[[str], Callable[..., Any] | None]
_RESOLVERS: dict[str, Resolver] = {}
# The kinds of entry point that need no registration, loaded with the app.
_KINDS = ("jobs.entrypoints.django_tasks", "jobs.entrypoints.celery_tasks")


class ApprovalRequired(Exception):
    """Raised by an entry point (through ctx.require_approval) to pause for approval."""

    def __init__(self, issue_id: str) -> None:
        super().__init__(f"approval required on issue {issue_id}")
        self.issue_id = str(issue_id)


@dataclass(frozen=True)
class JobContext:
    job_id: str
    attempt: int
    approved: bool

    def require_approval(self, issue_id: str | int) -> None:
        """Pause the job until the GitHub issue (or an approver) approves it."""
        if not self.approved:
            raise ApprovalRequired(str(issue_id))


def entrypoint(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name] is not func:
            raise ValueError(f"entry point {name!r} is registered twice")
        _REGISTRY[name] = func
        return func

    return register


def get(name: str) -> Callable[..., Any] | None:
    if name in _REGISTRY:
        return _REGISTRY[name]
    prefix, _, rest = name.partition(":")
    resolve = _RESOLVERS.get(prefix + ":")
    return resolve(rest) if resolve and rest else None


def resolver(prefix: str) -> Callable[[Resolver], Resolver]:
    """Register how names that start with ``prefix`` (``"task:"``) find their callable."""

    def register(resolve: Resolver) -> Resolver:
        _RESOLVERS[prefix] = resolve
        return resolve

    return register


def names() -> list[str]:
    return sorted(_REGISTRY)


def load_modules() -> None:
    for module in (*_KINDS, *settings.JOBS_ENTRYPOINT_MODULES):
        importlib.import_module(module)
