"""Running one job's entry point under maxJobRuntimeMs, in any Celery pool.

The entry point's call is a window (``_Window``), the only code an interruption
may land in: the time limit (JobTimeout), a stop (JobStopped: an operator
canceled or force-failed the job, seen by the heartbeat, jobs.engine.runtime) or
a shutdown (JobShutdown: the worker is stopping; the job goes back to the queue).
It is delivered once, in the thread that runs the job:
- in a process's main thread (prefork children, the solo pool) by SIGALRM sent
  to that thread, whose handler raises it; this also cuts short a blocking call
  such as ``time.sleep``;
- in any other thread (the threads pool) by raising it in that thread
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
from dataclasses import dataclass, replace
from typing import Any

from django.db import InterfaceError, OperationalError, connection

from jobs import entrypoints
from jobs.engine.admission import job_claim_next, job_succeed_then_claim_next
from jobs.engine.outcomes import job_fail_attempt, job_give_back, job_succeed, job_wait_for_approval
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


class JobInterrupted(BaseException):
    """Raised inside a running entry point from outside it (see job_interrupt)."""


class JobStopped(JobInterrupted):
    """The job is no longer running in the database: an operator canceled or force-failed it."""


class JobShutdown(JobInterrupted):
    """The worker is shutting down: the job goes back to the queue, its attempt not counted."""


STOPPED_ERROR = "Stopped: the job ended while its code ran"
SHUTDOWN_ERROR = "Interrupted by a worker shutdown"

# The open windows of this process, by job id. Plain dict operations (atomic under
# the GIL), no lock: a shutdown reads it from a signal handler, which must not wait
# for a lock the code it interrupted may hold.
_windows: dict[str, _Window] = {}
# Set by jobs_interrupt_all: a window opened after it (a job claimed just before a
# shutdown, whose code had not started yet) is interrupted as it opens.
_interrupt_new: list[type[BaseException]] = []


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    """Schedule ``exception`` in another thread (None clears a scheduled one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else ctypes.c_void_p(0)
    )


class _Window:
    """The call of one job's entry point, in the thread that runs it.

    An interruption is delivered at most once and only while the window is open;
    job_run catches it, since the window (its opening and closing included) lies
    inside job_run's ``try``. So nothing lands in the engine's own code: the
    outcome, the claim, the slot release. close() may be cut short by that one
    interruption; job_run closes again after it, which nothing can interrupt.
    """

    def __init__(self, job_id, seconds: float) -> None:
        self.job_id = str(job_id)
        self.thread_id = threading.get_ident()
        self.in_main_thread = threading.current_thread() is threading.main_thread()
        self.guard = threading.Lock()
        self.open = False
        self.pending: type[BaseException] | None = None
        self.raised = False  # main thread: the handler raised already
        self._previous: Any = None
        self._seconds = seconds
        # The time limit: SIGALRM from an interval timer in the main thread (no thread per
        # job); elsewhere a timer thread that interrupts like a stop does.
        self._timer: threading.Timer | None = None
        if not self.in_main_thread:
            self._timer = threading.Timer(seconds, self.interrupt, args=(JobTimeout,))
            self._timer.daemon = True

    def __enter__(self) -> _Window:
        if self.in_main_thread:
            self._previous = signal.signal(signal.SIGALRM, self._on_signal)
        self.open = True
        _windows[self.job_id] = self
        if self._timer is not None:
            self._timer.start()
        else:
            signal.setitimer(signal.ITIMER_REAL, self._seconds)
        if _interrupt_new:  # after registering: jobs_interrupt_all sees this window, or this sees it
            self.interrupt(_interrupt_new[0])
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Idempotent: after it no interruption lands, and the SIGALRM handler is restored."""
        _windows.pop(self.job_id, None)
        if self._timer is not None:
            self._timer.cancel()
        try:
            with self.guard:  # no interruption is being delivered while it closes
                self.open = False
                if not self.in_main_thread:
                    # One scheduled just as the code returned must not land in the outcome.
                    _raise_in_thread(self.thread_id, None)
        finally:
            self.open = False
            if self.in_main_thread:
                signal.setitimer(signal.ITIMER_REAL, 0)
                # signal.signal runs a pending handler first: closed, it raises nothing.
                previous = self._previous if self._previous is not None else signal.SIG_DFL
                signal.signal(signal.SIGALRM, previous)

    def _on_signal(self, signum, frame) -> None:
        if self.open and not self.raised:
            self.raised = True
            raise self.pending or JobTimeout()

    def interrupt(self, exception: type[BaseException]) -> bool:
        """Raise ``exception`` in the job's thread if its code still runs; False when it has returned."""
        if threading.get_ident() == self.thread_id:
            # A signal handler on the job's own thread (a shutdown of the solo pool or of
            # a prefork child). It may have interrupted __exit__ while that holds the
            # guard, so it must not take it; nothing else runs on this thread meanwhile.
            return self._deliver(exception)
        with self.guard:
            return self._deliver(exception)

    def _deliver(self, exception: type[BaseException]) -> bool:
        if not self.open or self.pending is not None:
            return False
        self.pending = exception
        if self.in_main_thread:
            signal.pthread_kill(self.thread_id, signal.SIGALRM)
        else:
            _raise_in_thread(self.thread_id, exception)
        return True


def job_interrupt(job_id, exception: type[JobInterrupted]) -> bool:
    """Interrupt the code of ``job_id`` if it runs in this process; True when it was."""
    window = _windows.get(str(job_id))
    return window.interrupt(exception) if window is not None else False


def jobs_interrupt_all(exception: type[JobInterrupted]) -> int:
    """Interrupt every job whose code runs in this process, and every one that starts later.

    Returns how many were running. Safe in a signal handler: it takes no lock the
    interrupted code may hold.
    """
    if not _interrupt_new:
        _interrupt_new.append(exception)
    return sum(window.interrupt(exception) for window in list(_windows.values()))


@dataclass(frozen=True)
class Ran:
    """What a run of the entry point came to, before it is recorded."""

    result: Any = None
    error: str | None = None
    approval_issue: str | None = None
    # Of a failure: the exception's class as module.qualname, and its formatted traceback.
    exception: str = ""
    traceback: str = ""
    # Stopped from outside: "stopped" (the job ended meanwhile) or "shutdown" (give it back).
    interrupted: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.approval_issue is None


def job_run(job: Job, cfg: JobsSettings) -> Ran:
    """Run the job's entry point under maxJobRuntimeMs; nothing is written."""
    func = entrypoints.get(job.entrypoint)
    ctx = JobContext(job_id=str(job.id), attempt=job.attempts, approved=job.approved_at is not None)
    window = _Window(job.id, cfg.worker.maxJobRuntimeMs / 1000)
    try:
        with window:
            if func is None:
                raise LookupError(f"entry point {job.entrypoint!r} is not registered on this worker")
            result = func(ctx, **job.params)
            json.dumps(result)  # refuse a result the database cannot store, as a failure
    except ApprovalRequired as request:
        return Ran(approval_issue=request.issue_id)
    except JobTimeout as exc:
        return _failed(exc, TIMEOUT_ERROR)
    except JobShutdown:
        return Ran(error=SHUTDOWN_ERROR, interrupted="shutdown")
    except JobStopped as exc:
        return replace(_failed(exc, STOPPED_ERROR), interrupted="stopped")
    except Exception as exc:
        return _failed(exc, f"{type(exc).__name__}: {exc}")
    finally:
        window.close()  # again, if the interruption cut the first one short (or came as it opened)
    return Ran(result=result)


def _failed(exc: BaseException, error: str) -> Ran:
    kind = type(exc)
    return Ran(
        error=error,
        exception=f"{kind.__module__}.{kind.__qualname__}",
        traceback="".join(traceback.format_exception(exc)),
    )


def outcome_record(job: Job, ran: Ran, *, worker: str) -> str:
    """Record the run's outcome; returns the job's new status (or "discarded", "given back")."""
    if ran.interrupted == "shutdown":
        return job_give_back(job, worker=worker)
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


def job_execute_then_claim(
    job: Job, *, worker: str, may_claim: Callable[[], bool] = lambda: True
) -> tuple[str, Job | None]:
    """job_execute, then claim the next job; a success and the claim are one statement
    (PostgreSQL), so a busy worker commits once per job. Returns (status, next job).

    ``may_claim`` is asked once the code has returned: a worker shutting down claims nothing.
    """
    cfg = config_recent()
    ran = job_run(job, cfg)
    if not may_claim():
        return with_reconnect(lambda: outcome_record(job, ran, worker=worker), job=job), None
    if ran.succeeded and connection.vendor == "postgresql":
        return with_reconnect(
            lambda: job_succeed_then_claim_next(job, worker=worker, result=ran.result, cfg=cfg), job=job
        )
    status = with_reconnect(lambda: outcome_record(job, ran, worker=worker), job=job)
    return status, job_claim_next(worker=worker, cfg=cfg)
