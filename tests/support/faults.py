"""What the fault suite measures, gathered while it runs and printed as one table at the end."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from jobs.models import Event, Job

RESULTS: list[FaultResult] = []


@dataclass
class FaultResult:
    scenario: str
    jobs: int = 0
    kills: int = 0
    lost: int = 0
    duplicate_runs: int = 0
    requests: int = 0
    server_errors: int = 0
    max_request_seconds: float = 0.0

    def row(self) -> str:
        return (
            f"| {self.scenario} | {self.jobs} | {self.kills} | {self.lost} | {self.duplicate_runs} "
            f"| {self.requests} | {self.server_errors} | {self.max_request_seconds:.2f} s |"
        )


HEADER = (
    "| scenario | jobs | kills | lost | duplicate concurrent runs | requests | 5xx | slowest request |\n"
    "|---|---|---|---|---|---|---|---|"
)


def lost(job_ids) -> int:
    """Jobs that did not end: neither succeeded nor failed (a failure is in the DLQ, not lost)."""
    return Job.objects.filter(id__in=job_ids).exclude(status__in=["succeeded", "failed"]).count()


def duplicate_concurrent_runs(job_ids, killed_at: dict[int, datetime]) -> int:
    """Runs of a job that started while an earlier run of it was still alive.

    A run ends when its outcome is written or when the process running it was killed
    (``killed_at``: pid -> when); a job's next start before that is a second, concurrent run.
    """
    duplicates = 0
    events = Event.objects.filter(
        job_id__in=job_ids, type__in=["job:started", "job:succeeded", "job:retrying", "job:failed"]
    )
    runs: dict = {}
    for event in events.order_by("id"):
        runs.setdefault(event.job_id, []).append(event)
    for history in runs.values():
        open_run: tuple[datetime, datetime | None] | None = None  # (started, killed)
        for event in history:
            if event.type == "job:started":
                if open_run is not None:
                    killed = open_run[1]
                    if killed is None or event.created_at < killed:
                        duplicates += 1
                pid = int(str(event.data.get("worker", ":0")).rsplit(":", 1)[1])
                open_run = (event.created_at, killed_at.get(pid))
            else:
                open_run = None
    return duplicates


class Load:
    """Submissions over HTTP from a thread for as long as a fault goes on: their latency and statuses."""

    def __init__(self, web, token: str, *, every: float = 0.2, limit: int = 2000) -> None:
        self.web, self.token, self.every, self.limit = web, token, every, limit
        self.ids: list[str] = []
        self.latencies: list[float] = []
        self.server_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set() and n < self.limit:  # bounded, as every loop here
            n += 1
            try:
                status, body, took = self.web.submit(self.token, {"load": n, "at": time.time()})
                self.latencies.append(took)
                if status >= 500:
                    self.server_errors += 1
                else:
                    self.ids.append(body["id"])
            except Exception:
                self.server_errors += 1
            self._stop.wait(self.every)
