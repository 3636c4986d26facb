"""Web addresses of the configured GitHub, derived from settings.JOBS_GITHUB_API_URL.

- ``https://api.github.com`` (the default) -> ``https://github.com``;
- ``https://api.SUBDOMAIN.ghe.com`` (GitHub Enterprise Cloud with data residency)
  -> ``https://SUBDOMAIN.ghe.com``;
- ``https://HOST/api/v3`` (GitHub Enterprise Server) -> ``https://HOST``;
- anything else (a GitHub-compatible server, a fake on loopback in tests) keeps its
  scheme, host and port: ``http://127.0.0.1:8123`` -> ``http://127.0.0.1:8123``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

GITHUB_WEB = "https://github.com"
_REST_PATH = "/api/v3"


def web_base_url() -> str:
    """The web root of the GitHub that GITHUB_API_URL points at, without a trailing slash."""
    parts = urlsplit((settings.JOBS_GITHUB_API_URL or "").strip())
    # Drop any user:password@ so that no credential ends up in a link.
    netloc = parts.netloc.rpartition("@")[2].lower()
    if not netloc or netloc == "api.github.com":
        return GITHUB_WEB
    scheme = parts.scheme or "https"
    path = parts.path.rstrip("/")
    if path.endswith(_REST_PATH):
        path = path.removesuffix(_REST_PATH)
    elif not path and netloc.startswith("api.") and netloc.endswith(".ghe.com"):
        netloc = netloc.removeprefix("api.")
    return f"{scheme}://{netloc}{path}"


def issue_url(repo: str, number: int | str) -> str:
    """The issue's web page, e.g. https://github.com/acme/ops/issues/42."""
    return f"{web_base_url()}/{repo}/issues/{number}"


def issue_references(repo: str, number: int) -> list[str]:
    """The ways a job's issueId names issue ``number`` of ``repo``: "42", "#42", "acme/ops#42" and its URL
    (with or without a trailing slash), as jobs.github.source.parse_issue_number reads them."""
    url = issue_url(repo, number)
    return [str(number), f"#{number}", f"{repo}#{number}", url, f"{url}/"]
