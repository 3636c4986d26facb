"""Settings read from the environment: a bad value stops the start with a message naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Loads the settings as every process does (web, worker, beat) and prints one of them.
LOAD_SETTINGS = "import django; django.setup(); from django.conf import settings; print(repr(settings.{name}))"
SECONDS = ["JOBS_RECONCILE_SECONDS", "JOBS_HEARTBEAT_SECONDS", "JOBS_LEASE_SECONDS", "JOBS_REPUBLISH_SECONDS"]


def load_settings(name: str, value: str, **more: str) -> subprocess.CompletedProcess[str]:
    """Start Python with ``name=value`` added to this test run's environment (DATABASE_URL, REDIS_URL, ...)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jobsconsole.settings", name: value, **more}
    return subprocess.run(
        [sys.executable, "-c", LOAD_SETTINGS.format(name=name)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, "abc") for name in SECONDS] + [("JOBS_LEASE_SECONDS", v) for v in ["0", "-5", "nan", "inf", "5s"]],
)
def test_it_refuses_a_timing_that_is_not_a_positive_number_of_seconds(name, value):
    result = load_settings(name, value)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name} must be a positive number of seconds" in result.stderr
    assert repr(value) in result.stderr


@pytest.mark.parametrize(("value", "seconds"), [("45", 45.0), ("0.5", 0.5), (" 2.5 ", 2.5)])
def test_it_reads_a_good_timing(value, seconds):
    result = load_settings("JOBS_LEASE_SECONDS", value)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(seconds)


def test_it_uses_the_default_timing_when_the_variable_is_empty():
    result = load_settings("JOBS_LEASE_SECONDS", "")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "30.0"


def test_it_refuses_an_integer_setting_that_is_not_an_integer():
    result = load_settings("AXES_FAILURE_LIMIT", "five")

    assert result.returncode != 0
    assert "ImproperlyConfigured: AXES_FAILURE_LIMIT must be an integer, got 'five'" in result.stderr


def test_it_reads_a_good_integer_setting():
    result = load_settings("AXES_FAILURE_LIMIT", "7")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"


def test_it_refuses_to_start_with_debug_off_and_no_secret_key(tmp_path):
    """No built-in key: production without SECRET_KEY stops at once, saying what to set."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jobsconsole.settings", "DEBUG": "0", "SECRET_KEY": ""}
    env["JOBS_VAR_DIR"] = str(tmp_path)
    for argv in (
        [sys.executable, "-c", LOAD_SETTINGS.format(name="SECRET_KEY")],
        [sys.executable, "manage.py", "check"],
    ):
        result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode != 0
        assert "SECRET_KEY is not set: set it to a long random string in production" in result.stderr


def test_with_debug_on_and_no_secret_key_it_makes_one_for_this_checkout_only(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jobsconsole.settings", "DEBUG": "1", "SECRET_KEY": ""}
    env["JOBS_VAR_DIR"] = str(tmp_path)
    runs = [
        subprocess.run(
            [sys.executable, "-c", LOAD_SETTINGS.format(name="SECRET_KEY")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    key = (tmp_path / "secret-key").read_text().strip()
    assert len(key) >= 50 and runs[0].stdout.strip() == runs[1].stdout.strip() == repr(key)
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600


def test_make_gives_the_checkout_a_private_random_key(tmp_path):
    env = {**os.environ, "JOBS_VAR_DIR": str(tmp_path)}
    first = subprocess.run(
        ["./scripts/local-secret-key"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    again = subprocess.run(
        ["./scripts/local-secret-key"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert first.stdout == again.stdout and len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600
