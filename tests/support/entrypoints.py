"""Entry points only the tests register (workers load them through JOBS_ENTRYPOINT_MODULES)."""

from __future__ import annotations

import time

from jobs.entrypoints import JobContext, entrypoint

# A worker's JOBS_ENTRYPOINT_MODULES with these beside the shipped demos.
MODULES = "jobs.entrypoints.demo,jobs.entrypoints.demo_tasks,tests.support.entrypoints"


@entrypoint("test.block")
def block(ctx: JobContext, seconds: float = 5.0, **params) -> dict:
    """One call blocked in C for ``seconds``: a pool's thread can be interrupted only when it returns."""
    time.sleep(float(seconds))
    return {"blocked": seconds}
