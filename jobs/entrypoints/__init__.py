"""Registry of the Python callables that jobs run.

    @entrypoint("reports.build")
    def build(ctx: JobContext, *, month: str) -> dict: ...

A job's params are passed as keyword arguments; what the callable returns (JSON)
becomes the job's result. The modules listed in settings.JOBS_ENTRYPOINT_MODULES
are imported at start-up so their decorators run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

_REGISTRY: dict[str, Callable[..., Any]] = {}


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
    return _REGISTRY.get(name)


def names() -> list[str]:
    return sorted(_REGISTRY)


def load_modules() -> None:
    for module in settings.JOBS_ENTRYPOINT_MODULES:
        importlib.import_module(module)
