"""The shop's tests run on real PostgreSQL, Redis and Celery worker processes of the shop's
own Celery app (``celery -A shop worker``), started here against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import dj_database_url
import pytest
import redis
from django.db import connection

SHOP = Path(__file__).resolve().parents[1]
CELERY = str(Path(sys.executable).with_name("celery"))
FAST_ENGINE = {
    "JOBS_HEARTBEAT_SECONDS": "0.5",
    "JOBS_LEASE_SECONDS": "3",
    "JOBS_RECONCILE_SECONDS": "0.5",
    "JOBS_REPUBLISH_SECONDS": "2",
}


def pytest_configure(config) -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError("The shop's tests run on PostgreSQL and Redis: set DATABASE_URL and REDIS_URL")
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("The shop's tests need Redis: set REDIS_URL=redis://...")


def _process_env() -> dict[str, str]:
    url = dj_database_url.parse(os.environ["DATABASE_URL"])
    test_db = f"postgres://{url.get('USER') or 'postgres'}@{url.get('HOST') or '127.0.0.1'}:{url.get('PORT') or 5432}"
    return {
        **os.environ,
        **FAST_ENGINE,
        "DATABASE_URL": f"{test_db}/{connection.settings_dict['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }


class Process:
    def __init__(self, argv: list[str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.popen = subprocess.Popen(
            argv, cwd=SHOP, env=_process_env(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._log.close()


@pytest.fixture
def redis_db():
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def shop_workers(transactional_db, redis_db, tmp_path):
    """``shop_workers(2)``: worker processes of the shop's Celery app, and its beat."""
    started: list[Process] = []

    def start(count: int = 1, *, pool: str = "solo", concurrency: int = 2) -> None:
        for _ in range(count):
            name = f"shop{len(started) + 1}"
            argv = [CELERY, "-A", "shop", "worker", "--pool", pool, "--hostname", f"{name}@%h", "--loglevel", "INFO"]
            argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
            if pool != "solo":
                argv += ["--concurrency", str(concurrency)]
            started.append(Process(argv, tmp_path / f"{name}.log"))
        if not any("beat" in p.popen.args for p in started):
            beat = [CELERY, "-A", "shop", "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")]
            started.append(Process(beat, tmp_path / "beat.log"))

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def operator(transactional_db, client):
    """A signed-in console user of the operator role."""
    from jobs.roles import ensure_roles
    from jobs.services.audit import Actor
    from jobs.services.users import user_set

    ensure_roles()
    user, _ = user_set(actor=Actor.cli("tests"), username="olivia", role="operator", password="correct-horse-battery")
    client.force_login(user)
    return user
