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
import signal
import threading
from contextlib import contextmanager

from jobs import entrypoints
from jobs.engine.outcomes import job_fail_attempt, job_succeed, job_wait_for_approval
from jobs.entrypoints import ApprovalRequired, JobContext
from jobs.jobsconfig import JobsSettings
from jobs.models import Job
from jobs.services.config import config_recent

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


def job_execute(job: Job, *, worker: str, cfg: JobsSettings | None = None) -> str:
    """Run the job's entry point and apply the outcome. Returns the job's new status."""
    cfg = cfg or config_recent()
    func = entrypoints.get(job.entrypoint)
    ctx = JobContext(job_id=str(job.id), attempt=job.attempts, approved=job.approved_at is not None)
    try:
        with time_limit(cfg.worker.maxJobRuntimeMs / 1000):
            if func is None:
                raise LookupError(f"entry point {job.entrypoint!r} is not registered on this worker")
            result = func(ctx, **job.params)
            json.dumps(result)  # refuse a result the database cannot store, as a failure
    except ApprovalRequired as request:
        return job_wait_for_approval(job, worker=worker, issue_id=request.issue_id)
    except JobTimeout:
        return job_fail_attempt(job, worker=worker, error=TIMEOUT_ERROR)
    except Exception as exc:
        return job_fail_attempt(job, worker=worker, error=f"{type(exc).__name__}: {exc}")
    return job_succeed(job, worker=worker, result=result)
