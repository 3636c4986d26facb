"""A small closed-loop HTTP load generator (stdlib only) for benchmarks/run.py.

`clients` threads, each with its own http.client connection (kept alive when the
server allows it; gunicorn's sync workers close it after each response and
http.client reconnects), send `total` requests between them as fast as answers
come back. Only 127.0.0.1 is a target, every request has a timeout and the
number of requests is bounded, so a run always ends.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"

# (method, path, JSON body or None) for request number i
RequestFor = Callable[[int], tuple[str, str, dict | None]]


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def ok(self, *codes: int) -> int:
        return sum(self.statuses[code] for code in codes)


def run_load(
    port: int, request_for: RequestFor, *, total: int, clients: int, headers: dict[str, str], timeout: float = 30
) -> LoadResult:
    """Send `total` requests from `clients` threads; returns every latency and status."""
    result = LoadResult()
    numbers = itertools.count()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def take() -> int:
        with lock:
            return next(numbers)

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        latencies, statuses = [], Counter()
        ready.wait()
        while (n := take()) < total:
            started = time.perf_counter()
            statuses[_send(conn, *request_for(n), headers)] += 1
            latencies.append((time.perf_counter() - started) * 1000)
        conn.close()
        with lock:
            result.latencies_ms.extend(latencies)
            result.statuses.update(statuses)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=total * timeout)
    result.seconds = time.perf_counter() - started
    return result


def _send(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None, headers: dict) -> int | str:
    """One request; the status code, or the exception's name (the connection is then reopened)."""
    payload = None if body is None else json.dumps(body).encode()
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return type(exc).__name__


def get_status(port: int, path: str, headers: dict[str, str], timeout: float = 5) -> int | str:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        return _send(conn, "GET", path, None, headers)
    finally:
        conn.close()
