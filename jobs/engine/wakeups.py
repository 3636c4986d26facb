"""Wake-up messages: published after commit, by task name, at most about one per slot.

A wake-up only asks a worker to drain: admit and run due jobs while a slot is
free; the database decides which job. So N submissions need not leave N messages
behind. A small gate in Redis counts the wake-ups published and not yet taken by
a worker, and lets a new one out only while that count is below maxConcurrent: a
worker that takes a wake-up gives its place back before it drains, so a job
committed while every place is taken is always found by one of those drains.

Without Redis (the embedded broker of ``make run``) every request publishes.
A wake-up lost anyway (broker down, gate drifted) is repaired by the reconciler,
which publishes again for due jobs whose ``published_at`` is old.

No request waits on the broker: after commit the wake-ups go to a thread of the
process (``_Outbox``) that publishes them, so a broker that is down or hung costs
that thread its time-outs, not the request. The job row is the outbox already;
what the thread could not send, the reconciler publishes.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache

from celery import current_app
from django.conf import settings
from django.db import connection, transaction

from jobs import task_names
from jobs.models import Job
from jobs.services.config import config_recent

logger = logging.getLogger("jobs.wakeups")

GATE_KEY = "jobs:wakeups:outstanding"
# A gate that drifted high (messages purged by hand) heals after this long without wake-ups.
GATE_TTL_SECONDS = 30

# Grant up to ARGV[1] places below the cap ARGV[2]; returns how many were granted.
_TAKE = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - current)
if grant > 0 then redis.call('incrby', KEYS[1], grant) end
redis.call('expire', KEYS[1], ARGV[3])
return math.max(grant, 0)
"""
_GIVE_BACK = """
if redis.call('decr', KEYS[1]) < 0 then redis.call('set', KEYS[1], 0) end
return 1
"""


@lru_cache(maxsize=1)
def _gate():
    """A Redis client for the gate, or None on the embedded broker."""
    if not settings.JOBS_REDIS_URL:
        return None
    import redis

    client = redis.Redis.from_url(settings.JOBS_REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    return client.register_script(_TAKE), client.register_script(_GIVE_BACK)


def _places(wanted: int, cap: int) -> int:
    gate = _gate()
    if gate is None:
        return wanted
    try:
        return int(gate[0](keys=[GATE_KEY], args=[wanted, cap, GATE_TTL_SECONDS]))
    except Exception as exc:  # Redis down: publishing will fail too; the reconciler repairs
        logger.warning("wake-up gate unavailable (%s)", exc)
        return min(wanted, cap)


def wakeup_taken() -> None:
    """A worker took a wake-up: give its place back before draining."""
    gate = _gate()
    if gate is None:
        return
    try:
        gate[1](keys=[GATE_KEY])
    except Exception as exc:
        logger.warning("wake-up gate unavailable (%s)", exc)


class _Outbox:
    """This process's publishing thread: messages handed over after commit, sent in order."""

    # How long a process that exits waits for wake-ups still to send (a CLI submit, say).
    FLUSH_SECONDS = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[Callable[[], object]] = queue.Queue()

    def put(self, send: Callable[[], object]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # the first wake-up of this process, or of a forked child
                self._pid, self._queue = os.getpid(), queue.Queue()
                threading.Thread(
                    target=self._send_forever, args=(self._queue,), name="jobs-wakeups", daemon=True
                ).start()
                atexit.register(self.flush)
            self._queue.put(send)

    def _send_forever(self, pending: queue.Queue[Callable[[], object]]) -> None:
        while True:
            send = pending.get()
            try:
                send()
            except Exception:  # the reconciler publishes what could not be sent
                logger.exception("a message was not published; the reconciler will")
            finally:
                pending.task_done()
                if pending.empty():  # a publish that failed wrote to the database: let go of it
                    connection.close()

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Wait until every wake-up handed over so far was sent (or given up); False on time-out."""
        deadline = time.monotonic() + timeout
        while self._pid == os.getpid() and self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


_outbox = _Outbox()


def wake_after_commit(job_ids: Iterable) -> None:
    """After the transaction commits, have this process's outbox thread wake workers for these jobs."""
    ids = [str(job_id) for job_id in job_ids]
    if ids:
        transaction.on_commit(lambda: _outbox.put(lambda: wake(ids)))


def wake(job_ids: list[str], *, cap: int | None = None) -> int:
    """Publish up to one wake-up per job, no more than the gate lets out; returns how many."""
    return publish(job_ids[: _places(len(job_ids), _cap() if cap is None else cap)])


def _cap() -> int:
    return config_recent().queue.maxConcurrent


def publish(job_ids: list[str]) -> int:
    """Send one wake-up per id, past the gate (the reconciler's repairs); returns how many went out."""
    sent = 0
    for job_id in job_ids:
        try:
            current_app.send_task(task_names.RUN_JOBS, args=[job_id], task_id=job_id, retry=False)
            sent += 1
        except Exception as exc:  # broker down: the reconciler will publish it again
            logger.warning("could not publish a wake-up for job %s (%s); the reconciler will retry", job_id, exc)
            Job.objects.filter(id__in=job_ids[sent:]).update(published_at=None)
            break
    return sent


def wake_another_drain() -> None:
    """A drain that stopped at its limit hands on to a new wake-up, if the gate has a place."""
    if _places(1, _cap()):
        try:
            current_app.send_task(task_names.RUN_JOBS, args=[None], retry=False)
        except Exception as exc:  # the reconciler publishes for due jobs later
            logger.warning("could not publish a wake-up (%s)", exc)


def publish_operation_after_commit(operation_id) -> None:
    """After the transaction commits, have the outbox thread hand the operation to a worker."""
    transaction.on_commit(lambda: _outbox.put(lambda: publish_operation(operation_id)))


def publish_operation(operation_id) -> None:
    try:
        current_app.send_task(task_names.RUN_OPERATION, args=[str(operation_id)], retry=False)
    except Exception as exc:  # the reconciler starts pending operations later
        logger.warning("could not publish operation %s (%s)", operation_id, exc)
