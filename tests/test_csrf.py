"""Every URL refuses a POST without a CSRF token, enumerated from the URL conf.

New URLs are picked up automatically, so none can escape the check. Excluded by
prefix: /api/ (token-authenticated JSON API; a session user of the API is checked
there) and /github/webhook (authenticated by its HMAC signature, not a session).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

EXCLUDED_PREFIXES = ("api/", "github/webhook")
SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}


def _route(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], str(pattern))
    text = str(pattern.regex.pattern).lstrip("^").rstrip("$").replace("\\Z", "")
    text = re.sub(r"\(\?P<\w+>[^)]*\)", "1", text)
    return text.replace("\\", "")


def all_paths(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    resolver = resolver or get_resolver()
    paths = []
    for entry in resolver.url_patterns:
        path = prefix + _route(entry.pattern)
        if isinstance(entry, URLResolver):
            paths.extend(all_paths(entry, path))
        elif isinstance(entry, URLPattern) and "(" not in path:
            # A regex the sample values could not fill (none in this project) would show here.
            paths.append(path)
    return sorted(set(paths))


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
