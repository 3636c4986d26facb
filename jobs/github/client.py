"""A small GitHub REST + GraphQL client on urllib: timeouts, ETags, rate-limit headers.

Every failure is an exception, never an empty answer, so that the callers can
never mistake "GitHub did not answer" for "the issue carries no label" or, worse,
for an approval:

- ``RateLimited``: 429, or 403 with ``x-ratelimit-remaining: 0`` or ``Retry-After``
  (``until`` says when to try again);
- ``GitHubUnreachable``: time-out, connection error, 5xx, an unreadable answer;
- ``GitHubRefused``: any other 4xx (bad token, unknown repository, ...).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.utils import timezone

USER_AGENT = "jobs-console-approval-watcher"
# Answers that mean "this API does not offer that" (a GitHub-compatible server
# without GraphQL or issue events): the watcher falls back instead of backing off.
UNSUPPORTED = frozenset({400, 404, 405, 410, 422, 501})


class GitHubError(Exception):
    """GitHub did not give a usable answer."""


class GitHubUnreachable(GitHubError):
    """Time-out, network error, 5xx or an unreadable answer: try again later, with backoff."""


class GitHubRefused(GitHubError):
    """A 4xx other than a rate limit."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(GitHubError):
    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    data: Any = None

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")


@dataclass
class GitHubClient:
    token: str
    api_url: str
    repo: str  # owner/name
    timeout: float = 10.0
    requests: int = 0
    rate_remaining: int | None = None
    rate_reset: datetime | None = None
    _permission_cache: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> GitHubClient:
        return cls(
            token=settings.JOBS_GITHUB_TOKEN,
            api_url=settings.JOBS_GITHUB_API_URL.rstrip("/"),
            repo=settings.JOBS_GITHUB_REPO,
            timeout=_timeout_seconds(),
        )

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    @property
    def graphql_url(self) -> str:
        # GitHub Enterprise Server serves REST at /api/v3 and GraphQL at /api/graphql.
        if self.api_url.endswith("/api/v3"):
            return self.api_url[: -len("/v3")] + "/graphql"
        return self.api_url + "/graphql"

    # Transport

    def request(self, method: str, path: str, *, body: Any = None, etag: str = "", url: str = "") -> Response:
        """One HTTP request; 2xx and 304 are answers, everything else raises."""
        target = url or f"{self.api_url}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(target, data=data, method=method)  # noqa: S310 (https or loopback URL from settings)
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("User-Agent", USER_AGENT)
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if etag:
            req.add_header("If-None-Match", etag)
        self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                status, headers, raw = resp.status, _headers(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, _headers(exc.headers)
            try:
                raw = exc.read()
            except (OSError, TimeoutError):
                raw = b""
        except TimeoutError as exc:
            raise GitHubUnreachable(f"{method} {path or target}: timed out after {self.timeout}s") from exc
        except urllib.error.URLError as exc:
            raise GitHubUnreachable(f"{method} {path or target}: {exc.reason}") from exc
        except (OSError, ValueError) as exc:  # connection reset, bad status line
            raise GitHubUnreachable(f"{method} {path or target}: {exc}") from exc
        self._note_rate_limit(headers)
        if status == 304:
            return Response(status, headers)
        if status == 429 or (
            status == 403 and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)
        ):
            raise RateLimited(f"{method} {path or target}: rate limited ({status})", until=self._retry_at(headers))
        if status >= 500 and status != HTTPStatus.NOT_IMPLEMENTED:  # 501: this API lacks it; no retry helps
            raise GitHubUnreachable(f"{method} {path or target}: GitHub answered {status}")
        if status >= 400:
            raise GitHubRefused(f"{method} {path or target}: GitHub answered {status} {_message(raw)}", status=status)
        try:
            payload = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            raise GitHubUnreachable(f"{method} {path or target}: unreadable answer") from exc
        return Response(status, headers, payload)

    def _note_rate_limit(self, headers: dict[str, str]) -> None:
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining is not None and remaining.lstrip("-").isdigit():
            self.rate_remaining = int(remaining)
        if reset is not None and reset.isdigit():
            self.rate_reset = datetime.fromtimestamp(int(reset), tz=UTC)

    def _retry_at(self, headers: dict[str, str]) -> datetime:
        now = timezone.now()
        retry_after = headers.get("retry-after", "")
        if retry_after.isdigit():
            return now + timedelta(seconds=int(retry_after))
        if retry_after:
            try:
                return parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                pass
        if self.rate_reset is not None and self.rate_reset > now:
            return self.rate_reset
        # GitHub's advice for a secondary limit without headers: wait at least a minute.
        return now + timedelta(minutes=1)

    # GraphQL

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The ``data`` of a GraphQL answer; NOT_FOUND errors leave a null, other errors raise."""
        resp = self.request("POST", "/graphql", body={"query": query, "variables": variables}, url=self.graphql_url)
        if not isinstance(resp.data, dict):
            raise GitHubUnreachable("GraphQL: unreadable answer")
        errors = resp.data.get("errors") or []
        serious = [e for e in errors if not (isinstance(e, dict) and e.get("type") == "NOT_FOUND")]
        if any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED" for e in serious):
            raise RateLimited("GraphQL: rate limited", until=self._retry_at(resp.headers))
        if serious or not isinstance(resp.data.get("data"), dict):
            # The query itself was refused; callers fall back to REST.
            raise GitHubRefused(f"GraphQL: {_message(json.dumps(serious).encode())}", status=422)
        return resp.data["data"]

    # REST calls the watcher uses

    def comment(self, number: int, body: str) -> None:
        self.request("POST", f"/repos/{self.repo}/issues/{number}/comments", body={"body": body})

    def close(self, number: int) -> None:
        self.request("PATCH", f"/repos/{self.repo}/issues/{number}", body={"state": "closed"})

    def add_label(self, number: int, label: str) -> None:
        self.request("POST", f"/repos/{self.repo}/issues/{number}/labels", body={"labels": [label]})

    def issue(self, number: int) -> dict[str, Any] | None:
        """The REST issue (labels, state), or None when it does not exist."""
        try:
            resp = self.request("GET", f"/repos/{self.repo}/issues/{number}")
        except GitHubRefused as exc:
            if exc.status in (404, 410):
                return None
            raise
        return resp.data if isinstance(resp.data, dict) else {}

    def issue_events(self, number: int) -> list[dict[str, Any]] | None:
        """The issue's events (who labeled it), or None when this API does not list them."""
        try:
            resp = self.request("GET", f"/repos/{self.repo}/issues/{number}/events?per_page=100")
        except GitHubRefused as exc:
            if exc.status in UNSUPPORTED:
                return None
            raise
        return [e for e in resp.data if isinstance(e, dict)] if isinstance(resp.data, list) else None

    def permission(self, login: str) -> str:
        """The login's permission on the repository: admin, maintain, write, triage, read or none."""
        if login not in self._permission_cache:
            quoted = urllib.parse.quote(login, safe="")
            try:
                resp = self.request("GET", f"/repos/{self.repo}/collaborators/{quoted}/permission")
            except GitHubRefused as exc:
                if exc.status != 404:  # 404: not a collaborator at all
                    raise
                self._permission_cache[login] = "none"
            else:
                data = resp.data if isinstance(resp.data, dict) else {}
                self._permission_cache[login] = str(data.get("permission") or "none")
        return self._permission_cache[login]

    def can_write(self, login: str) -> bool:
        return self.permission(login) in {"admin", "maintain", "write"}


def _timeout_seconds() -> float:
    """JOBS_GITHUB_TIMEOUT_SECONDS, default 10 s: a slow GitHub must not hold a worker."""
    value = settings.JOBS_GITHUB_TIMEOUT_SECONDS
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 10.0
    return seconds if 0 < seconds <= 120 else 10.0


def _headers(message) -> dict[str, str]:
    return {k.lower(): v for k, v in (message.items() if message is not None else [])}


def _message(raw: bytes) -> str:
    return raw[:300].decode(errors="replace").strip()
