"""Bare Celery: the baseline our engine is compared with in benchmarks/run.py.

A Celery app of its own ("bare") on the same Redis as the engine (REDIS_URL), on
its own queue and control exchange, so neither its messages nor its pings mix
with ours, and with the engine's task settings (jobsconsole/settings.py CELERY_*):
late acks, prefetch multiplier 1, JSON, results ignored. No Django: the worker
runs nothing but the task. Started by run.py, from the repository root, as

    celery -A benchmarks.bare_celery worker --pool prefork -c 2 -Q bare

Each task records itself in Redis: INCR of DONE_KEY, and in TIMES_KEY (a sorted
set) the earliest start ("first", ZADD LT) and the latest finish ("last", ZADD GT),
so the producer reads the run's span the way it reads our jobs' started_at and
completed_at.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

QUEUE = "bare"
DONE_KEY = "bench:bare:done"
TIMES_KEY = "bench:bare:times"

# fixups=[]: no Django fix-up even if DJANGO_SETTINGS_MODULE is set; not the current
# app, so that the engine's shared tasks keep publishing through jobsconsole's app.
app = Celery("bare", broker=os.environ.get("REDIS_URL"), fixups=[], set_as_current=False)
app.conf.update(
    task_default_queue=QUEUE,
    control_exchange=QUEUE,
    broker_transport_options={"visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 5},
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=2,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)

_client: redis.Redis | None = None


def client() -> redis.Redis:
    """One Redis client per process (redis-py's pool reconnects after a fork)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _client


def record(started: float, finished: float) -> None:
    pipe = client().pipeline(transaction=False)
    pipe.zadd(TIMES_KEY, {"first": started}, lt=True)
    pipe.zadd(TIMES_KEY, {"last": finished}, gt=True)
    pipe.incr(DONE_KEY)
    pipe.execute()


@app.task(name="bare.noop")
def noop(n: int = 0) -> None:
    now = time.time()
    record(now, now)


@app.task(name="bare.sleep")
def sleep(seconds: float = 0.05, n: int = 0) -> None:
    started = time.time()
    time.sleep(seconds)
    record(started, time.time())
