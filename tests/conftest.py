"""Fixtures shared by the suite: role users, real Celery workers and beat, Redis."""

from __future__ import annotations

import os

import pytest
import redis

from jobs.roles import ROLES, ensure_roles
from jobs.services.audit import Actor
from tests.support.processes import ManagedProcess, start_beat, start_worker

PASSWORD = "correct-horse-battery"


def pytest_configure(config) -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError(
            f"The suite runs on PostgreSQL: run it with `make test`, or set DATABASE_URL=postgres://... (got {url!r})"
        )
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("The suite needs Redis: run it with `make test`, or set REDIS_URL=redis://...")


def pytest_collection_modifyitems(config, items) -> None:
    """A run that includes browser tests stops before the first test when Chromium is missing,
    with one line, instead of an error in each browser test (``make test`` installs it first)."""
    from tests.support.browser import CHROMIUM

    wants_browser = any(item.get_closest_marker("browser") or "browser" in item.fixturenames for item in items)
    if wants_browser and not os.access(CHROMIUM, os.X_OK):
        raise pytest.UsageError(
            f"The browser tests need Debian's chromium ({CHROMIUM} is missing): run `make test`, which installs it, "
            "or `apt-get install chromium chromium-driver`; `-m 'not browser'` leaves them out."
        )


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    """Exports land in the test's own folder; no configuration read by an earlier test is reused."""
    from jobs.services.config import config_forget_recent

    config_forget_recent()
    settings.JOBS_EXPORT_DIR = tmp_path / "exports"
    # Each test's trail is its own (the database is flushed between tests): so are its anchors.
    settings.JOBS_AUDIT_ANCHOR_FILE = tmp_path / "audit-anchors.jsonl"
    # Role users are made in most tests: a fast hasher (Django's advice for tests).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render without `collectstatic`: plain storage instead of the manifest one.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def roles(db):
    """The five role groups (transactional tests flush the ones the migration made)."""
    ensure_roles()


@pytest.fixture
def make_user(roles, django_user_model):
    def make(role: str, username: str | None = None):
        from jobs.services.users import user_set

        user, _ = user_set(actor=Actor.cli("tests"), username=username or role, role=role, password=PASSWORD)
        return user

    return make


@pytest.fixture
def users(make_user) -> dict:
    """One user per role, named after it: users['operator'].username == 'operator'."""
    return {role: make_user(role) for role in ROLES}


@pytest.fixture
def api(users):
    """api("operator") -> an API client holding a bearer token of that role's user."""
    from tests.support.api import Api

    clients = {}

    def as_role(role: str):
        if role not in clients:
            clients[role] = Api(users[role])
        return clients[role]

    return as_role


@pytest.fixture
def cli() -> Actor:
    return Actor.cli("tests")


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def workers(transactional_db, roles, redis_client, tmp_path):
    """Start real worker processes: ``workers(3)``; all are stopped after the test."""
    started: list[ManagedProcess] = []

    def start(count: int = 1, *, env: dict | None = None, prefix: str = "w", pool: str = "solo", concurrency: int = 2):
        new = [
            start_worker(f"{prefix}{len(started) + i + 1}", tmp_path, env=env, pool=pool, concurrency=concurrency)
            for i in range(count)
        ]
        started.extend(new)
        return new

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def beat(transactional_db, tmp_path):
    """Start celery beat (the reconciler's schedule)."""
    started: list[ManagedProcess] = []

    def start(env: dict | None = None) -> ManagedProcess:
        process = start_beat(tmp_path, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def fake_github(settings):
    """A fake GitHub on loopback (tests.support.fake_github), with GITHUB_* settings pointing at it."""
    from tests.support.fake_github import FakeGitHub

    fake = FakeGitHub().start()
    for key, value in fake.env(GITHUB_WEBHOOK_SECRET="webhook-secret").items():
        setattr(settings, f"JOBS_{key}", value)  # the JOBS_* setting of each environment variable
    settings.JOBS_GITHUB_TIMEOUT_SECONDS = 1.0
    yield fake
    fake.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    """The fault suite's table (tests/test_faults.py), as docs/architecture.md keeps it."""
    from tests.support import faults

    if faults.RESULTS:
        terminalreporter.section("fault suite")
        terminalreporter.write_line(faults.HEADER)
        for result in faults.RESULTS:
            terminalreporter.write_line(result.row())
