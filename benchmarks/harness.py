"""What benchmarks/run.py needs around the measurements: the throwaway database,
the processes it starts (and only those it stops), Redis queues, tables of figures."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUR_QUEUE = "celery"  # the engine's wake-ups go to Celery's default queue
HOLD_PREFIX = "bench:hold:"
KOMBU_UNACKED = ("unacked", "unacked_index", "unacked_mutex")


def bench_database(url: str) -> str:
    """Create (afresh) <name>_bench next to DATABASE_URL's database; returns its URL."""
    import dj_database_url
    import psycopg

    parsed = dj_database_url.parse(url)
    name = f"{parsed['NAME']}_bench"
    admin = {
        "host": parsed.get("HOST") or "127.0.0.1",
        "port": parsed.get("PORT") or 5432,
        "user": parsed.get("USER") or "postgres",
        "password": parsed.get("PASSWORD") or None,
        "dbname": "postgres",
    }
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.1, alive=()) -> None:
    """Poll condition until true; SystemExit after timeout or when a process in alive exited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        for process in alive:
            if process.poll() is not None:
                raise SystemExit(f"{process.args[0]} (pid {process.pid}) exited while waiting for {what}")
        time.sleep(every)


# Processes: every one started here is registered, and stopped by its pid at the latest at exit.
_started: list[subprocess.Popen] = []


def spawn(argv: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start argv from the repository root in a session of its own (so its children can be stopped with it)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    _started.append(process)
    return process


def stop(processes: list[subprocess.Popen], timeout: float = 30) -> None:
    """SIGTERM each (a warm shutdown), then SIGKILL to its own process group after timeout."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this script created for it, nothing else
            process.wait(timeout=10)
        if process in _started:
            _started.remove(process)


atexit.register(lambda: stop(list(_started), timeout=10))


def celery_worker(app: str, *, name: str, pool: str, concurrency: int, queue: str, env: dict, log: Path):
    argv = [str(BIN / "celery"), "-A", app, "worker", "--pool", pool, "-c", str(concurrency), "-Q", queue]
    argv += ["--hostname", f"{name}@%h", "--loglevel", "WARNING"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return spawn(argv, env=env, log=log)


def wait_for_ping(app, count: int, *, timeout: float, alive=()) -> None:
    """Until `count` worker nodes answer a control ping: their consumers are up."""
    wait_until(
        lambda: len(app.control.ping(timeout=0.5) or []) >= count,
        timeout=timeout,
        what=f"{count} worker(s) of {app.main} to answer a ping",
        every=0.2,
        alive=alive,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Redis: the benchmark's REDIS_URL database is its own; only queue lists and its own keys are touched.
def queue_keys(broker, queue: str) -> list[bytes]:
    """The queue's lists: kombu keeps one per priority step (queue, queue\\x06\\x163, ...)."""
    return [key for key in broker.scan_iter(match=f"{queue}*") if broker.type(key) == b"list"]


def flush_queues(broker, *queues: str, extra: tuple[str, ...] = (), patterns: tuple[str, ...] = ()) -> None:
    """Drop pending messages (every worker is stopped by then), kombu's unacked sets, extra keys and
    keys matching patterns. Kombu's bindings stay: a producer declares its queue only once."""
    keys = [key for queue in queues for key in queue_keys(broker, queue)]
    keys += [key for queue in queues for key in broker.scan_iter(match=f"{HOLD_PREFIX}{queue}*")]
    keys += [key for pattern in patterns for key in broker.scan_iter(match=pattern)]
    keys += [*KOMBU_UNACKED, *extra]
    broker.delete(*keys)


def hold_queue(broker, queue: str) -> None:
    """Move the queue's messages aside, so workers starting one after the other all find them at once."""
    for key in queue_keys(broker, queue):
        broker.rename(key, HOLD_PREFIX.encode() + key)


def release_queue(broker, queue: str) -> None:
    for key in broker.scan_iter(match=f"{HOLD_PREFIX}{queue}*"):
        broker.rename(key, key[len(HOLD_PREFIX) :])


def table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [header, *[[_cell(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(title)
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                value.rjust(width) if i else value.ljust(width)
                for i, (value, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"
