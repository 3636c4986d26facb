"""Entry points shipped for demos, tests and benchmarks (see API.md)."""

from __future__ import annotations

import time

from jobs.entrypoints import JobContext, entrypoint


@entrypoint("demo.noop")
def noop(ctx: JobContext, **params) -> dict:
    return {"ok": True}


@entrypoint("demo.sleep")
def sleep(ctx: JobContext, seconds: float = 1.0, **params) -> dict:
    seconds = float(seconds)
    if not 0 <= seconds <= 3600:
        raise ValueError("seconds must be between 0 and 3600")
    # In slices, so that a time-out or a stop raised in a pool's thread lands within 0.1 s
    # (a thread only sees it between Python statements, not inside one long sleep).
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))
    return {"slept": seconds}


@entrypoint("demo.fail")
def fail(ctx: JobContext, message: str = "demo failure", **params) -> None:
    raise RuntimeError(message)


@entrypoint("demo.flaky")
def flaky(ctx: JobContext, failTimes: int = 1, **params) -> dict:
    if ctx.attempt <= int(failTimes):
        raise RuntimeError(f"flaky failure on attempt {ctx.attempt} of the first {failTimes}")
    return {"attempt": ctx.attempt}


@entrypoint("demo.needs_approval")
def needs_approval(ctx: JobContext, issueId: str | int = "", **params) -> dict:
    if not issueId:
        raise ValueError("issueId is required")
    ctx.require_approval(issueId)
    return {"approved": True, "issueId": str(issueId)}
