"""A worker process: its name, the jobs its threads run, its heartbeat, and the drain loop.

One runtime per OS process (a prefork child, a solo worker, or a threads-pool
worker whose threads all share it). Its heartbeat thread keeps the lease of
every job the process is running, whichever thread runs it, so a long job in
one thread is never declared lost while it runs.
"""

from __future__ import annotations

import logging
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

from jobs.engine.admission import job_claim_next, slots_ensure, slots_free
from jobs.engine.runner import job_execute, job_execute_then_claim
from jobs.engine.wakeups import wake_another_drain
from jobs.models import AdmissionSlot, BackgroundOperation, Job, Status, WorkerHeartbeat
from jobs.services.config import config_recent

logger = logging.getLogger("jobs.engine")

DRAIN_LIMIT = 200
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
            Job.objects.filter(id__in=running, status=Status.RUNNING, worker=self.name).update(lease_expires_at=lease)
            AdmissionSlot.objects.filter(job_id__in=running, worker=self.name).update(lease_expires_at=lease)
        # A slot left held by this process for a job it no longer runs (an outcome that
        # could not be written) is freed here rather than after its lease.
        slots_free(
            AdmissionSlot.objects.filter(worker=self.name)
            .exclude(job_id__in=running)
            .exclude(claimed_at__gte=now - timedelta(seconds=settings.JOBS_HEARTBEAT_SECONDS))
        )

    def _beat_forever(self) -> None:
        while not self._stop.wait(settings.JOBS_HEARTBEAT_SECONDS):
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
    job = job_claim_next(worker=runtime.name)
    while job is not None:
        with runtime.running(job.id):
            if ran + 1 < limit and time.monotonic() < deadline:
                status, job_after = job_execute_then_claim(job, worker=runtime.name)
            else:
                status, job_after, handed_on = job_execute(job, worker=runtime.name), None, True
        runtime.count(status)
        ran += 1
        job = job_after
    if handed_on:
        close_old_connections()
        wake_another_drain()
    return ran
