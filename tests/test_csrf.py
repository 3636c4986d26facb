"""Every URL refuses a POST without a CSRF token, enumerated from the URL conf.

New URLs are picked up automatically, so none can escape the check. Excluded by
prefix: /api/ (token-authenticated JSON API; a session user of the API is checked
there) and /github/webhook (authenticated by its HMAC signature, not a session).
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.console import all_paths

EXCLUDED_PREFIXES = ("api/", "github/webhook")
PATHS = [path for path in all_paths() if not path.startswith(EXCLUDED_PREFIXES)]


def test_it_enumerates_the_console_urls():
    assert "jobs/x/cancel" not in PATHS  # converters were filled in
    assert any(path.startswith("dlq/") and path.endswith("/retry") for path in PATHS)
    assert "emergency/clear-all" in PATHS
    assert "logout/" in PATHS and "login/" in PATHS


@pytest.mark.parametrize("path", PATHS)
def test_it_refuses_a_post_without_csrf_token(path, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    response = client.post(f"/{path}", {"reason": "r", "confirm": "clear all jobs"})
    assert response.status_code == 403
    assert b"CSRF" in response.content
