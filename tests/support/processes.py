"""Real processes for tests: Celery workers and beat against the test database.

Workers run as separate OS processes (``celery -A jobsconsole worker``), so they
only see what the test has committed: use them from transactional tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dj_database_url
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))

CHILD_APPLICATION_NAME = "jobs-tests-child"

# Fast clocks so that recovery and retries happen within a test.
FAST_ENGINE_ENV = {
    "JOBS_HEARTBEAT_SECONDS": "0.5",
    "JOBS_LEASE_SECONDS": "3",
    "JOBS_RECONCILE_SECONDS": "0.5",
    "JOBS_REPUBLISH_SECONDS": "2",
}


def the_test_database_url() -> str:
    """DATABASE_URL pointing at the database the test run created (test_<name>)."""
    parsed = dj_database_url.parse(os.environ["DATABASE_URL"])
    user = parsed.get("USER") or "postgres"
    password = f":{parsed['PASSWORD']}" if parsed.get("PASSWORD") else ""
    host = parsed.get("HOST") or "127.0.0.1"
    port = parsed.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{connection.settings_dict['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FAST_ENGINE_ENV)
    env["DATABASE_URL"] = the_test_database_url()
    env["PYTHONUNBUFFERED"] = "1"
    # Their database sessions carry this name (libpq reads it), so a test can cut theirs only.
    env["PGAPPNAME"] = CHILD_APPLICATION_NAME
    # The test's own audit anchors (tests/conftest.py): its database is flushed after it.
    env["AUDIT_ANCHOR_FILE"] = str(settings.JOBS_AUDIT_ANCHOR_FILE)
    env.update(extra)
    return env


class ManagedProcess:
    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._log.close()


def start_worker(
    name: str, log_dir: Path, *, env: dict[str, str] | None = None, pool: str = "solo", concurrency: int = 2
) -> ManagedProcess:
    argv = [
        CELERY,
        "-A",
        "jobsconsole",
        "worker",
        "--pool",
        pool,
        "--hostname",
        f"{name}@%h",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if pool != "solo":
        argv += ["--concurrency", str(concurrency)]
    return ManagedProcess(argv, env or process_env(), log_dir / f"{name}.log")


def start_beat(log_dir: Path, *, env: dict[str, str] | None = None) -> ManagedProcess:
    argv = [CELERY, "-A", "jobsconsole", "beat", "--loglevel", "INFO", "--schedule", str(log_dir / "beat-schedule")]
    return ManagedProcess(argv, env or process_env(), log_dir / "beat.log")


def wait_for(predicate: Callable[[], object], *, timeout: float = 30, interval: float = 0.1, message: str = ""):
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def sample_running(*, limit: int, total: int, timeout: float = 150) -> tuple[int, int, list[int]]:
    """Sample the running count from the database until ``total`` jobs succeeded.

    Returns (samples, the highest count seen, every count above ``limit``).
    """
    from jobs.models import Job, Status

    samples, highest, overs = 0, 0, []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = Job.objects.running().count()
        samples += 1
        highest = max(highest, running)
        if running > limit:
            overs.append(running)
        if Job.objects.filter(status=Status.SUCCEEDED).count() == total:
            break
        time.sleep(0.01)
    return samples, highest, overs
