"""Admission, execution and completion of jobs by workers; the reconciler.

How ``maxConcurrent`` holds across every worker process: admission is
serialised. ``job_claim_next`` locks the single AdmissionLock row FOR UPDATE,
counts running jobs, and only then moves the best queued job to running, all in
one transaction. Only admission makes a job running, and two admissions never
overlap, so the count a claimer sees already includes every earlier claim
(PostgreSQL's READ COMMITTED takes a fresh snapshot per statement, after the lock
is granted). Jobs leaving the running state only make the count smaller, which is
safe. The lock is held for a few milliseconds per claim.

Delivery is at least once, so every outcome is applied with a compare-and-set on
(status = running, worker, attempts): a duplicate delivery, or a job canceled or
recovered meanwhile, changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs import entrypoints
from jobs.entrypoints import ApprovalRequired, JobContext
from jobs.jobsconfig import JobsSettings
from jobs.models import AdmissionLock, BackgroundOperation, Job, Status, WorkerHeartbeat
from jobs.selectors import alive_cutoff
from jobs.services.approvals import approvals_expire_due
from jobs.services.config import config_get
from jobs.services.dlq import dlq_add
from jobs.services.events import event_emit
from jobs.services.publishing import publish_now

logger = logging.getLogger("jobs.execution")

MAX_BACKOFF_SECONDS = 3600
WORKER_LOST_ERROR = "Worker lost: no heartbeat within the lease"
TIMEOUT_ERROR = "Job timed out"


class JobTimeout(BaseException):
    """Raised inside a job that ran past maxJobRuntimeMs.

    A BaseException so that an entry point's ``except Exception`` cannot swallow it.
    """


def _lock_admission() -> None:
    if not AdmissionLock.objects.select_for_update().filter(pk=1).exists():
        AdmissionLock.objects.bulk_create([AdmissionLock(pk=1)], ignore_conflicts=True)
        AdmissionLock.objects.select_for_update().get(pk=1)


def job_claim_next(*, worker: str) -> Job | None:
    """Admit the highest-priority, oldest due job if a concurrency slot is free."""
    now = timezone.now()
    with transaction.atomic():
        _lock_admission()
        cfg = config_get()
        if not cfg.worker.enabled:
            # This wake-up admits nothing and is gone: hand the due jobs back to the
            # outbox, so that enabling publishes them at once (reconcile), instead of
            # after the lost-message sweep (JOBS_REPUBLISH_SECONDS).
            Job.objects.due(now).filter(published_at__isnull=False).update(published_at=None)
            return None
        if _slots_in_use(worker) >= cfg.queue.maxConcurrent:
            return None
        job = Job.objects.due(now).in_admission_order().select_for_update(skip_locked=True).first()
        if job is None:
            return None
        job.status = Status.RUNNING
        job.attempts += 1
        job.started_at = now
        job.updated_at = now
        job.worker = worker
        job.lease_expires_at = now + timedelta(seconds=settings.JOBS_LEASE_SECONDS)
        job.save(update_fields=["status", "attempts", "started_at", "updated_at", "worker", "lease_expires_at"])
        WorkerHeartbeat.objects.filter(name=worker).update(current_job=job.id, last_seen=now)
        event_emit("job:started", job=job, worker=worker, attempt=job.attempts)
    return job


def _slots_in_use(claimer: str) -> int:
    """Running jobs, plus jobs live workers still execute after a cancel or force-fail.

    A canceled job stops counting as running at once, but its code runs on until it
    returns; its worker's ``current_job`` keeps the slot taken until then. The
    claimer itself runs nothing while it claims (one job at a time per process).
    """
    running = Job.objects.running()
    lingering = (
        WorkerHeartbeat.objects.filter(last_seen__gte=alive_cutoff(), current_job__isnull=False)
        .exclude(name=claimer)
        .exclude(current_job__in=running.values("id"))
    )
    return running.count() + lingering.count()


@contextmanager
def time_limit(seconds: float):
    """Raise JobTimeout in this thread after ``seconds`` (main thread only).

    Elsewhere (a thread pool) the reconciler's time-out check is the only guard.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expire(signum, frame):
        raise JobTimeout()

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def job_execute(job: Job, *, worker: str, cfg: JobsSettings | None = None) -> str:
    """Run the job's entry point and apply the outcome. Returns the job's new status."""
    cfg = cfg or config_get()
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


def _lock_running(job: Job, worker: str | None) -> Job | None:
    """Re-read the job locked, only if it is still this attempt of ours."""
    running = Job.objects.select_for_update().filter(id=job.id, status=Status.RUNNING, attempts=job.attempts)
    if worker is not None:
        running = running.filter(worker=worker)
    current = running.first()
    if current is None and worker is not None:
        # No outcome is applied, so free the slot this worker's run was holding.
        WorkerHeartbeat.objects.filter(name=worker, current_job=job.id).update(current_job=None)
    if current is None:
        logger.info("outcome of job %s attempt %s discarded: the job moved on meanwhile", job.id, job.attempts)
    return current


def _count_outcome(worker: str, *, succeeded: bool) -> None:
    counter = "succeeded" if succeeded else "failed"
    WorkerHeartbeat.objects.filter(name=worker).update(
        processed=F("processed") + 1, **{counter: F(counter) + 1}, current_job=None, last_seen=timezone.now()
    )


def job_succeed(job: Job, *, worker: str, result: Any) -> str:
    with transaction.atomic():
        current = _lock_running(job, worker)
        if current is None:
            return "discarded"
        now = timezone.now()
        current.status = Status.SUCCEEDED
        current.result = result
        current.completed_at = now
        current.updated_at = now
        current.lease_expires_at = None
        current.save(update_fields=["status", "result", "completed_at", "updated_at", "lease_expires_at"])
        _count_outcome(worker, succeeded=True)
        event_emit("job:succeeded", job=current, attempt=current.attempts)
    return Status.SUCCEEDED


def job_wait_for_approval(job: Job, *, worker: str, issue_id: str) -> str:
    """An entry point asked for approval mid-run: running -> waiting_approval.

    The run does not count as a failed attempt.
    """
    cfg = config_get()
    with transaction.atomic():
        current = _lock_running(job, worker)
        if current is None:
            return "discarded"
        now = timezone.now()
        current.status = Status.WAITING_APPROVAL
        current.issue_id = issue_id
        current.approval_expires_at = now + timedelta(hours=cfg.approval.defaultTtlHours)
        current.attempts = max(current.attempts - 1, 0)
        current.worker = ""
        current.lease_expires_at = None
        current.updated_at = now
        current.save(
            update_fields=[
                "status",
                "issue_id",
                "approval_expires_at",
                "attempts",
                "worker",
                "lease_expires_at",
                "updated_at",
            ]
        )
        _count_outcome(worker, succeeded=True)
        event_emit("job:waiting_approval", job=current, issueId=issue_id)
    return Status.WAITING_APPROVAL


def backoff_seconds(cfg: JobsSettings, attempts: int) -> float:
    """retryDelayMs doubled after each failed attempt, capped at an hour."""
    return min(cfg.worker.retryDelayMs / 1000 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def job_fail_attempt(job: Job, *, worker: str | None, error: str) -> str:
    """Record a failed attempt: retry with backoff, or fail and add to the DLQ.

    ``worker`` None is the reconciler acting on an abandoned or timed-out job.
    """
    cfg = config_get()
    with transaction.atomic():
        current = _lock_running(job, worker)
        if current is None:
            return "discarded"
        now = timezone.now()
        current.last_error = error[:10_000]
        current.updated_at = now
        current.lease_expires_at = None
        if current.attempts < current.max_attempts:
            delay = backoff_seconds(cfg, current.attempts)
            current.status = Status.QUEUED
            current.next_attempt_at = now + timedelta(seconds=delay)
            current.published_at = None  # the reconciler publishes it once due
            current.worker = ""
            current.save(
                update_fields=[
                    "status",
                    "last_error",
                    "updated_at",
                    "lease_expires_at",
                    "next_attempt_at",
                    "published_at",
                    "worker",
                ]
            )
            event_emit(
                "job:retrying",
                job=current,
                error=current.last_error,
                attempt=current.attempts,
                nextAttemptAt=current.next_attempt_at.isoformat(),
            )
        else:
            current.status = Status.FAILED
            current.completed_at = now
            current.save(update_fields=["status", "last_error", "updated_at", "lease_expires_at", "completed_at"])
            event_emit("job:failed", job=current, error=current.last_error, attempt=current.attempts)
            dlq_add(current, reason=f"Max attempts exceeded ({current.attempts}/{current.max_attempts})")
        if job.worker:
            _count_outcome(job.worker, succeeded=False)
    return current.status


def drain(*, worker: str, limit: int = 50) -> int:
    """Admit and run jobs until none is due or no slot is free; returns how many ran."""
    ran = 0
    while ran < limit:
        job = job_claim_next(worker=worker)
        if job is None:
            break
        WorkerRuntime.current().running(job.id)
        try:
            job_execute(job, worker=worker)
        finally:
            WorkerRuntime.current().running(None)
            close_old_connections()
        ran += 1
    return ran


def reconcile(*, now=None) -> dict[str, int]:
    """Periodic repair: recover abandoned and timed-out runs, expire approvals, re-publish.

    Safe to run in several places at once: every change is a compare-and-set.
    """
    now = now or timezone.now()
    cfg = config_get()
    report = {
        "recovered": _recover_abandoned(now),
        "timedOut": _time_out_long_runs(now, cfg),
        "expired": approvals_expire_due(now=now),
        "published": _publish_due(now, cfg),
        "operations": _restart_stalled_operations(now),
    }
    WorkerHeartbeat.objects.filter(last_seen__lt=now - timedelta(days=1)).delete()
    return report


def _recover_abandoned(now) -> int:
    abandoned = Job.objects.running().filter(lease_expires_at__lt=now)
    return sum(
        job_fail_attempt(job, worker=None, error=f"{WORKER_LOST_ERROR} ({job.worker})") != "discarded"
        for job in abandoned
    )


def _time_out_long_runs(now, cfg: JobsSettings) -> int:
    # A grace of one heartbeat lets the worker's own timer report it first.
    cutoff = now - timedelta(milliseconds=cfg.worker.maxJobRuntimeMs, seconds=settings.JOBS_HEARTBEAT_SECONDS)
    overdue = Job.objects.running().filter(started_at__lt=cutoff)
    return sum(job_fail_attempt(job, worker=None, error=TIMEOUT_ERROR) != "discarded" for job in overdue)


def _publish_due(now, cfg: JobsSettings) -> int:
    """Publish one wake-up per free slot for due jobs whose message may be lost."""
    if not cfg.worker.enabled:
        return 0
    free = cfg.queue.maxConcurrent - Job.objects.running().count()
    if free <= 0:
        return 0
    stale = now - timedelta(seconds=settings.JOBS_REPUBLISH_SECONDS)
    ids = list(
        Job.objects.due(now)
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=stale))
        .in_admission_order()
        .values_list("id", flat=True)[:free]
    )
    if not ids:
        return 0
    Job.objects.filter(id__in=ids).update(published_at=now)
    return publish_now([str(job_id) for job_id in ids])


def _restart_stalled_operations(now) -> int:
    """Publish again operations whose message never reached a worker."""
    from jobs.services.operations import _publish

    stalled = BackgroundOperation.objects.filter(
        state=BackgroundOperation.State.PENDING, created_at__lt=now - timedelta(seconds=settings.JOBS_REPUBLISH_SECONDS)
    ).values_list("id", flat=True)[:10]
    for operation_id in stalled:
        _publish(operation_id)
    return len(stalled)


class WorkerRuntime:
    """This worker process: its name, the job it runs, and its heartbeat thread."""

    _instance: WorkerRuntime | None = None
    _lock = threading.Lock()

    def __init__(self, hostname: str) -> None:
        self.pid = os.getpid()
        self.hostname = hostname
        self.name = f"{hostname}:{self.pid}"
        self.started_at = timezone.now()
        self.current_job = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat_forever, name="jobs-heartbeat", daemon=True)

    @classmethod
    def current(cls, hostname: str | None = None) -> WorkerRuntime:
        """The runtime of this process, started on first use (and again after a fork)."""
        with cls._lock:
            if cls._instance is None or cls._instance.pid != os.getpid():
                cls._instance = cls(hostname or socket.gethostname())
                cls._instance.start()
            return cls._instance

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def running(self, job_id) -> None:
        self.current_job = job_id

    def beat(self) -> None:
        """Say we are alive and extend the lease of the job we run.

        ``current_job`` is written by admission and by the outcome, in their
        transactions; the heartbeat never writes it, so it cannot bring back a
        job that has just finished.
        """
        now = timezone.now()
        updated = WorkerHeartbeat.objects.filter(name=self.name).update(last_seen=now)
        if not updated:
            WorkerHeartbeat.objects.update_or_create(
                name=self.name,
                defaults={
                    "hostname": self.hostname,
                    "pid": self.pid,
                    "started_at": self.started_at,
                    "last_seen": now,
                    "current_job": self.current_job,
                },
            )
        if self.current_job is not None:
            Job.objects.filter(id=self.current_job, status=Status.RUNNING, worker=self.name).update(
                lease_expires_at=now + timedelta(seconds=settings.JOBS_LEASE_SECONDS)
            )

    def _beat_forever(self) -> None:
        while not self._stop.wait(settings.JOBS_HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception:  # a database blip must not kill the heartbeat
                logger.exception("heartbeat failed")
                close_old_connections()
