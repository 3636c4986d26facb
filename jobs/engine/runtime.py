"""A worker process: its name, the jobs its threads run, its heartbeat, and the drain loop.

One runtime per OS process (a prefork child, a solo worker, or a threads-pool
worker whose threads all share it). Its heartbeat thread keeps the lease of
every job the process is running, whichever thread runs it, so a long job in
one thread is never declared lost while it runs. It also stops the code of a
job that is no longer running in the database (canceled or force-failed by an
operator, timed out by the reconciler, removed by clear-all): the job's slot is
held until that code returns, so stopping it frees the slot within a heartbeat
or two instead of when the code would have finished.

A worker shutting down (shut_down) gives its running jobs back to the queue
without counting the attempt, and claims nothing more.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import F
from django.utils import timezone

from jobs.engine import capacity
from jobs.engine.admission import job_claim_next, jobs_return_to_outbox, slots_ensure, slots_free
from jobs.engine.runner import (
    JobShutdown,
    JobStopped,
    job_execute,
    job_execute_then_claim,
    job_interrupt,
    jobs_interrupt_all,
)
from jobs.engine.wakeups import wake_another_drain
from jobs.models import AdmissionSlot, BackgroundOperation, Job, Status, WorkerHeartbeat
from jobs.services.config import config_recent

logger = logging.getLogger("jobs.engine")

DRAIN_LIMIT = 200

# Set by a worker's main process when it begins to shut down. A shared mapping made at
# import, in the main process before it forks its pool, so every pool process sees it,
# busy or idle or forked later: none claims a job from then on (a wake-up still being
# delivered during the shutdown, the reconciler's included, admits nothing).
_WORKER_SHUTTING_DOWN = multiprocessing.RawValue(ctypes.c_bool, False)
# A drain also hands on after this long, so its process comes back to its messages
# (operations, the reconciler: jobs/queues.py) within about this plus one job's run.
DRAIN_SECONDS = 2.0
SUCCEEDED_OUTCOMES = (Status.SUCCEEDED, Status.WAITING_APPROVAL)
FAILED_OUTCOMES = (Status.QUEUED, Status.FAILED)


class WorkerRuntime:
    """This worker process: its name, the jobs it runs, and its heartbeat thread."""

    _instance: WorkerRuntime | None = None
    _lock = threading.Lock()

    def __init__(self, hostname: str) -> None:
        self.pid = os.getpid()
        self.hostname = hostname
        self.name = f"{hostname}:{self.pid}"
        self.started_at = timezone.now()
        self._guard = threading.Lock()
        self._running: set = set()
        self._operations: set = set()
        self._counts = {"processed": 0, "succeeded": 0, "failed": 0}
        self._stop = threading.Event()
        # Set once, by a shutdown (possibly from a signal handler): a plain attribute, no lock.
        self.shutting_down = False
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
        slots_ensure(config_recent().queue.maxConcurrent)
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def shut_down(self) -> int:
        """The worker is shutting down: claim nothing more, and give every running job back.

        Called from a signal handler (Celery's warm shutdown, or SIGUSR2 in a prefork
        child): it takes no lock. Returns how many jobs were interrupted.
        """
        self.shutting_down = True
        return jobs_interrupt_all(JobShutdown)

    @classmethod
    def shut_down_current(cls) -> int:
        """shut_down() for this process's runtime, if it has one (no lock: signal handlers call it).

        Also tells the pool processes this one forks, through _WORKER_SHUTTING_DOWN.
        """
        _WORKER_SHUTTING_DOWN.value = True
        instance = cls._instance
        if instance is None or instance.pid != os.getpid():
            return 0
        return instance.shut_down()

    def may_claim(self) -> bool:
        return not (self.shutting_down or _WORKER_SHUTTING_DOWN.value)

    @property
    def running_jobs(self) -> list:
        with self._guard:
            return list(self._running)

    def running(self, job_id):
        """Hold ``job_id``'s lease for as long as its code runs in this process."""
        return self._holding(self._running, job_id)

    def running_operation(self, operation_id):
        """Hold a background operation's lease for as long as this process runs it."""
        return self._holding(self._operations, operation_id)

    @contextmanager
    def _holding(self, held: set, key):
        with self._guard:
            held.add(key)
        try:
            yield
        finally:
            with self._guard:
                held.discard(key)

    def count(self, status: str) -> None:
        """Count an outcome; the heartbeat adds the counts to the worker's row."""
        with self._guard:
            if status in SUCCEEDED_OUTCOMES:
                self._counts["processed"] += 1
                self._counts["succeeded"] += 1
            elif status in FAILED_OUTCOMES:
                self._counts["processed"] += 1
                self._counts["failed"] += 1

    def _take_counts(self) -> dict[str, int]:
        with self._guard:
            counts, self._counts = self._counts, {"processed": 0, "succeeded": 0, "failed": 0}
        return counts

    def beat(self) -> None:
        """Say we are alive, add the outcomes counted since the last beat, renew our leases."""
        now = timezone.now()
        counts = self._take_counts()
        increments = {key: F(key) + value for key, value in counts.items() if value}
        try:
            updated = WorkerHeartbeat.objects.filter(name=self.name).update(last_seen=now, **increments)
            if not updated:
                WorkerHeartbeat.objects.update_or_create(
                    name=self.name,
                    defaults={"last_seen": now},
                    create_defaults={
                        "hostname": self.hostname,
                        "pid": self.pid,
                        "started_at": self.started_at,
                        "last_seen": now,
                        "concurrency": capacity.process_concurrency(),
                        **counts,
                    },
                )
        except Exception:
            self._give_back(counts)
            raise
        self._renew_leases(now)

    def _give_back(self, counts: dict[str, int]) -> None:
        with self._guard:
            for key, value in counts.items():
                self._counts[key] += value

    def _renew_leases(self, now) -> None:
        running = self.running_jobs
        lease = now + timedelta(seconds=settings.JOBS_LEASE_SECONDS)
        with self._guard:
            operations = list(self._operations)
        if operations:
            BackgroundOperation.objects.filter(
                id__in=operations, state=BackgroundOperation.State.RUNNING, worker=self.name
            ).update(lease_expires_at=lease)
        if running:
            mine = Job.objects.filter(id__in=running, status=Status.RUNNING, worker=self.name)
            renewed = mine.update(lease_expires_at=lease)
            AdmissionSlot.objects.filter(job_id__in=running, worker=self.name).update(lease_expires_at=lease)
            if renewed < len(running):
                self._stop_ended(running, still_running=set(mine.values_list("id", flat=True)))
        # A slot left held by this process for a job it no longer runs (an outcome that
        # could not be written) is freed here rather than after its lease.
        slots_free(
            AdmissionSlot.objects.filter(worker=self.name)
            .exclude(job_id__in=running)
            .exclude(claimed_at__gte=now - timedelta(seconds=settings.JOBS_HEARTBEAT_SECONDS))
        )

    def _stop_ended(self, running: list, *, still_running: set) -> None:
        """Stop the code of jobs that ended while it ran here (their slot is freed once it returns).

        A job whose own outcome was just written is not interrupted: its code has
        returned, and job_interrupt finds no open window for it.
        """
        for job_id in running:
            if job_id not in still_running and job_interrupt(job_id, JobStopped):
                logger.info("job %s is no longer running (canceled, failed or removed): stopping its code", job_id)

    def _beat_forever(self) -> None:
        while not self._stop.wait(settings.JOBS_HEARTBEAT_SECONDS):
            if _WORKER_SHUTTING_DOWN.value and not self.shutting_down:
                self.shut_down()  # a pool process its main process could not signal
            try:
                self.beat()
            except Exception:  # a database blip must not kill the heartbeat
                logger.exception("heartbeat failed")
                close_old_connections()


def drain(runtime: WorkerRuntime, *, limit: int = DRAIN_LIMIT, seconds: float = DRAIN_SECONDS) -> int:
    """Admit and run jobs until none is due or no slot is free; returns how many ran.

    Each success and the next claim are one statement, so the slot goes straight
    to the next job. After ``limit`` jobs or ``seconds`` it hands on to a new
    wake-up, so that one long drain does not keep a worker from its other messages
    (operations, the reconciler).
    """
    ran, handed_on = 0, False
    deadline = time.monotonic() + seconds
    if not runtime.may_claim():
        jobs_return_to_outbox()
        return 0
    job = job_claim_next(worker=runtime.name)
    while job is not None:
        with runtime.running(job.id):
            if ran + 1 < limit and time.monotonic() < deadline:
                status, job_after = job_execute_then_claim(job, worker=runtime.name, may_claim=runtime.may_claim)
            else:
                status, job_after, handed_on = job_execute(job, worker=runtime.name), None, True
        runtime.count(status)
        ran += 1
        job = job_after
    if handed_on:
        close_old_connections()
        wake_another_drain()
    return ran
