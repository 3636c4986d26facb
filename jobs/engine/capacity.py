"""How many jobs this worker process runs at once, recorded on its heartbeat row.

The global maxConcurrent is enforced by admission slots, but jobs only run where a
worker has room: a prefork child and the solo pool run one job at a time, a
threads (or gevent / eventlet) pool as many as its concurrency. The heartbeat
records this number, so the console can warn when maxConcurrent asks for more
than the live workers can run ("3 of 5 running" while the queue backs up).
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import celeryd_init

# Pools whose one process runs its concurrency's worth of jobs; the others run one per process.
# Matched in the pool's name ("threads") or the module of its class (celery.concurrency.thread).
SHARED_PROCESS_POOLS = ("thread", "gevent", "eventlet")

_worker: list[Any] = []  # this process's WorkController (its main process's, in a prefork child)


@celeryd_init.connect
def _remember_worker(sender=None, instance=None, **kwargs) -> None:
    """Sent in a worker's main process as it starts; its pool and concurrency are read later, once set."""
    _worker[:] = [instance]


def process_concurrency() -> int:
    """The jobs this process can run at once."""
    worker = _worker[0] if _worker else None
    pool = getattr(worker, "pool_cls", "") or ""
    name = (pool if isinstance(pool, str) else getattr(pool, "__module__", "")).rsplit(".", 1)[-1].lower()
    if any(shared in name for shared in SHARED_PROCESS_POOLS):
        return max(1, int(getattr(worker, "concurrency", 0) or os.cpu_count() or 1))
    return 1
