"""Signing in and out, the lockout after repeated failures, and the deployment checklist."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[1]


def test_it_signs_in_through_the_login_form(client, users):
    response = client.post(reverse("jobs:login"), {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("jobs:dashboard")
    assert client.get(reverse("jobs:dashboard")).status_code == 200


def test_it_says_when_the_password_is_wrong(client, users):
    response = client.post(reverse("jobs:login"), {"username": "viewer", "password": "wrong"})
    assert response.status_code == 200
    assert "That user name and password do not match." in response.text


def test_it_locks_out_after_repeated_failures_with_a_clear_page(client, users, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("jobs:login"), {"username": "viewer", "password": "wrong"})
    locked = client.post(reverse("jobs:login"), {"username": "viewer", "password": "wrong"})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text and "viewer" in locked.text
    # Even the right password is refused while locked.
    again = client.post(reverse("jobs:login"), {"username": "viewer", "password": PASSWORD})
    assert again.status_code == 429
    assert client.get(reverse("jobs:dashboard")).status_code == 302


def test_it_signs_out_only_by_post(client, users):
    client.force_login(users["viewer"])
    assert client.get(reverse("jobs:logout")).status_code == 405
    assert client.post(reverse("jobs:logout")).status_code == 302
    assert client.get(reverse("jobs:dashboard"))["Location"].startswith(reverse("jobs:login"))


def test_it_passes_the_deployment_checklist_with_production_settings():
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DEBUG": "false",
        "SECURE_SSL": "true",
        "ALLOWED_HOSTS": "jobs.example.com",
    }
    # Set by the browser tests for this process (Playwright's loop); never in production.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_refuses_an_overlong_username_with_the_form_not_a_500(client, users):
    response = client.post(reverse("jobs:login"), {"username": "x" * 300, "password": "wrong"})

    assert response.status_code == 200
    assert "That user name and password do not match." in response.text
