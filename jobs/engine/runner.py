"""Running one job's entry point under maxJobRuntimeMs, in any Celery pool.

The time limit is enforced in the thread that runs the job:
- in a process's main thread (prefork children, the solo pool) by SIGALRM,
  which also cuts short a blocking call such as ``time.sleep``;
- in any other thread (the threads pool) by raising JobTimeout in that thread
  (``PyThreadState_SetAsyncExc``). Python code stops at once; a call blocked in
  C returns first. Until the code returns, its slot stays held (see
  jobs.engine.admission), so maxConcurrent still holds and the job is never
  started again while it runs; the reconciler fails the attempt at the deadline.
"""

from __future__ import annotations

import ctypes
import json
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import InterfaceError, OperationalError, connection

from jobs import entrypoints
from jobs.engine.admission import job_claim_next, job_succeed_then_claim_next
from jobs.engine.outcomes import job_fail_attempt, job_succeed, job_wait_for_approval
from jobs.entrypoints import ApprovalRequired, JobContext
from jobs.jobsconfig import JobsSettings
from jobs.models import Job
from jobs.services.config import config_recent

logger = logging.getLogger("jobs.engine")

TIMEOUT_ERROR = "Job timed out"


class JobTimeout(BaseException):
    """Raised inside a job that ran past maxJobRuntimeMs.

    A BaseException so that an entry point's ``except Exception`` cannot swallow it.
    """


@contextmanager
def time_limit(seconds: float):
    """Raise JobTimeout in the current thread after ``seconds``."""
    if threading.current_thread() is threading.main_thread():
        with _alarm(seconds):
            yield
    else:
        with _thread_deadline(seconds):
            yield


@contextmanager
def _alarm(seconds: float):
    def _expire(signum, frame):
        raise JobTimeout()

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    """Schedule ``exception`` in another thread (None clears a scheduled one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else ctypes.c_void_p(0)
    )


@contextmanager
def _thread_deadline(seconds: float):
    thread_id = threading.get_ident()
    guard = threading.Lock()
    state = {"running": True}

    def _expire() -> None:
        with guard:
            if state["running"]:
                _raise_in_thread(thread_id, JobTimeout)

    timer = threading.Timer(seconds, _expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with guard:
            state["running"] = False
            # A time-out scheduled just as the job returned must not land in the outcome.
            _raise_in_thread(thread_id, None)


@dataclass(frozen=True)
class Ran:
    """What a run of the entry point came to, before it is recorded."""

    result: Any = None
    error: str | None = None
    approval_issue: str | None = None
    # Of a failure: the exception's class as module.qualname, and its formatted traceback.
    exception: str = ""
    traceback: str = ""

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.approval_issue is None


def job_run(job: Job, cfg: JobsSettings) -> Ran:
    """Run the job's entry point under maxJobRuntimeMs; nothing is written."""
    func = entrypoints.get(job.entrypoint)
    ctx = JobContext(job_id=str(job.id), attempt=job.attempts, approved=job.approved_at is not None)
    try:
        with time_limit(cfg.worker.maxJobRuntimeMs / 1000):
            if func is None:
                raise LookupError(f"entry point {job.entrypoint!r} is not registered on this worker")
            result = func(ctx, **job.params)
            json.dumps(result)  # refuse a result the database cannot store, as a failure
    except ApprovalRequired as request:
        return Ran(approval_issue=request.issue_id)
    except JobTimeout as exc:
        return _failed(exc, TIMEOUT_ERROR)
    except Exception as exc:
        return _failed(exc, f"{type(exc).__name__}: {exc}")
    return Ran(result=result)


def _failed(exc: BaseException, error: str) -> Ran:
    kind = type(exc)
    return Ran(
        error=error,
        exception=f"{kind.__module__}.{kind.__qualname__}",
        traceback="".join(traceback.format_exception(exc)),
    )


def outcome_record(job: Job, ran: Ran, *, worker: str) -> str:
    """Record the run's outcome; returns the job's new status (or "discarded")."""
    if ran.approval_issue is not None:
        return job_wait_for_approval(job, worker=worker, issue_id=ran.approval_issue)
    if ran.error is not None:
        return job_fail_attempt(job, worker=worker, error=ran.error, exception=ran.exception, traceback=ran.traceback)
    return job_succeed(job, worker=worker, result=ran.result)


# Waits between tries of an outcome write whose connection was lost (a PostgreSQL restart):
# about 15 s in all, half a lease, while the heartbeat keeps the job's lease.
OUTCOME_WRITE_WAITS = (0.5, 1, 2, 4, 8)


def with_reconnect[T](write: Callable[[], T], *, job: Job) -> T:
    """Run ``write``; on a lost connection, reconnect and try again before giving the run up.

    Safe to repeat: every outcome is a compare-and-set on the attempt, so a write that
    did commit before its connection broke is discarded the second time.
    """
    for wait in OUTCOME_WRITE_WAITS:
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block:
                raise
            logger.warning("outcome of job %s not written (%s); reconnecting in %ss", job.id, exc, wait)
            connection.close()  # the next query opens a new connection
            time.sleep(wait)
    return write()  # the last try: its error, if any, is the run's


def job_execute(job: Job, *, worker: str, cfg: JobsSettings | None = None) -> str:
    """Run the job's entry point and record the outcome. Returns the job's new status."""
    ran = job_run(job, cfg or config_recent())
    return with_reconnect(lambda: outcome_record(job, ran, worker=worker), job=job)


def job_execute_then_claim(job: Job, *, worker: str) -> tuple[str, Job | None]:
    """job_execute, then claim the next job; a success and the claim are one statement
    (PostgreSQL), so a busy worker commits once per job. Returns (status, next job)."""
    cfg = config_recent()
    ran = job_run(job, cfg)
    if ran.succeeded and connection.vendor == "postgresql":
        return with_reconnect(
            lambda: job_succeed_then_claim_next(job, worker=worker, result=ran.result, cfg=cfg), job=job
        )
    status = with_reconnect(lambda: outcome_record(job, ran, worker=worker), job=job)
    return status, job_claim_next(worker=worker, cfg=cfg)
