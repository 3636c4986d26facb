"""Web addresses of the configured GitHub (jobs.github.links), from GITHUB_API_URL."""

from __future__ import annotations

import pytest

from jobs.github.links import issue_references, issue_url, web_base_url
from jobs.github.source import parse_issue_number

REPO = "acme/ops"


@pytest.mark.parametrize(
    ("api_url", "web"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://API.GitHub.com/", "https://github.com"),
        ("", "https://github.com"),
        ("https://ghe.acme.internal/api/v3", "https://ghe.acme.internal"),
        ("https://ghe.acme.internal/api/v3/", "https://ghe.acme.internal"),
        ("https://ghe.acme.internal:8443/api/v3", "https://ghe.acme.internal:8443"),
        ("http://ghe.acme.internal/api/v3", "http://ghe.acme.internal"),
        ("https://api.octocorp.ghe.com", "https://octocorp.ghe.com"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://127.0.0.1:8123/api/v3", "http://127.0.0.1:8123"),
        ("http://[::1]:8123", "http://[::1]:8123"),
        ("https://token:secret@ghe.acme.internal/api/v3", "https://ghe.acme.internal"),
    ],
)
def test_it_derives_the_web_address_from_the_api_url(settings, api_url, web):
    settings.JOBS_GITHUB_API_URL = api_url
    assert web_base_url() == web


def test_it_links_an_issue_on_github_com(settings):
    settings.JOBS_GITHUB_API_URL = "https://api.github.com"
    assert issue_url(REPO, 42) == "https://github.com/acme/ops/issues/42"


def test_it_links_an_issue_on_github_enterprise(settings):
    settings.JOBS_GITHUB_API_URL = "https://ghe.acme.internal/api/v3"
    assert issue_url(REPO, 42) == "https://ghe.acme.internal/acme/ops/issues/42"


def test_it_links_an_issue_on_a_loopback_github(settings):
    settings.JOBS_GITHUB_API_URL = "http://127.0.0.1:8123"
    assert issue_url(REPO, "42") == "http://127.0.0.1:8123/acme/ops/issues/42"


def test_its_issue_references_name_the_configured_github(settings):
    settings.JOBS_GITHUB_API_URL = "https://ghe.acme.internal/api/v3"
    refs = issue_references(REPO, 42)
    assert refs == [
        "42",
        "#42",
        "acme/ops#42",
        "https://ghe.acme.internal/acme/ops/issues/42",
        "https://ghe.acme.internal/acme/ops/issues/42/",
    ]
    assert "https://github.com/acme/ops/issues/42" not in refs


@pytest.mark.parametrize(
    "api_url", ["https://api.github.com", "https://ghe.acme.internal/api/v3", "http://127.0.0.1:1"]
)
def test_every_issue_reference_reads_back_as_the_issue(settings, api_url):
    settings.JOBS_GITHUB_API_URL = api_url
    assert {parse_issue_number(ref, REPO) for ref in issue_references(REPO, 42)} == {42}
