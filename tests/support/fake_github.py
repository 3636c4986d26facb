"""A fake GitHub for the tests: a real HTTP server on 127.0.0.1 speaking the subset the watcher uses.

REST: list issues (with ETag / 304), get and close an issue, comments, labels,
issue events and timeline, collaborator permission. GraphQL: ``repository { iN:
issue(number: N) { ... } }`` batches, answered with number, state, labels and
LabeledEvent timeline items. Every answer carries x-ratelimit-* headers; a 304
does not use the rate limit, as on GitHub.

Tests drive it: ``add_issue``, ``label`` (as a login), ``set_permission``,
``fail(status)``, ``slow(seconds)``, ``rate_limit(status)``; and read
``requests`` (every request: method, path, status) and ``issues``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-token"
OWNER, NAME = "acme", "ops"
REPO = f"{OWNER}/{NAME}"
BOT = "jobs-console-bot"  # the login the token belongs to


def _now() -> str:
    return github_time(datetime.now(UTC))


def github_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def long_ago(seconds: int) -> str:
    """A distinct past updated_at per issue (GitHub's timestamps have one-second precision)."""
    return github_time(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds))


@dataclass
class FakeIssue:
    number: int
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # labeled events
    comments: list[dict[str, str]] = field(default_factory=list)
    updated_at: str = field(default_factory=_now)
    version: int = 0  # bumps on every change, so list ETags change even within one second

    def rest(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": f"Issue {self.number}",
            "state": self.state,
            "labels": [{"name": name} for name in self.labels],
            "updated_at": self.updated_at,
            "html_url": f"https://github.com/{REPO}/issues/{self.number}",
            "_v": self.version,
        }


class FakeGitHub:
    def __init__(self) -> None:
        self.issues: dict[int, FakeIssue] = {}
        self.permissions: dict[str, str] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.RLock()
        self.rate_limit_total = 5000
        self.rate_remaining = 5000
        self.rate_reset = int(time.time()) + 3600
        self._fail_status: int | None = None
        self._delay = 0.0
        self._limited: tuple[int, int] | None = None  # (status, reset epoch)
        # Parts of GitHub this fake can leave out, to play a smaller GitHub-like API:
        # "graphql", "events" (issue events and timeline), "list" (listing issues),
        # "bump" (a label moving the issue's updated_at).
        self.without: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # Lifecycle

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The GITHUB_* settings pointing at this fake (for settings or worker processes)."""
        return {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": self.url, "GITHUB_REPO": REPO, **extra}

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # Scenario helpers

    def add_issue(self, number: int, *, labels: list[str] | None = None, updated_at: str = "") -> FakeIssue:
        """An open issue; ``updated_at`` (GitHub's format) backdates it, as for issues opened long ago."""
        with self.lock:
            issue = self.issues[number] = FakeIssue(number=number, updated_at=updated_at or _now())
            for label in labels or []:
                self.label(number, label, by="octocat")
            return issue

    def label(self, number: int, name: str, *, by: str) -> None:
        """``by`` adds the label ``name`` to the issue, as in the web UI."""
        with self.lock:
            issue = self.issues[number]
            if name not in issue.labels:
                issue.labels.append(name)
            issue.events.append(
                {"event": "labeled", "label": {"name": name}, "actor": {"login": by}, "created_at": _now()}
            )
            if "bump" not in self.without:
                self._touch(issue)

    def unlabel(self, number: int, name: str) -> None:
        with self.lock:
            issue = self.issues[number]
            issue.labels.remove(name)
            self._touch(issue)

    def set_permission(self, login: str, permission: str) -> None:
        self.permissions[login] = permission

    def fail(self, status: int | None = 502) -> None:
        """Answer every request with ``status`` (None: stop failing)."""
        self._fail_status = status

    def slow(self, seconds: float) -> None:
        """Sleep this long before answering (0: answer at once)."""
        self._delay = seconds

    def rate_limit(self, status: int | None = 403, *, reset_in: int = 600) -> None:
        """Refuse with ``status`` and x-ratelimit-remaining 0 until told otherwise (None)."""
        self._limited = (status, int(time.time()) + reset_in) if status else None

    def count(self, *, method: str = "", path_prefix: str = "", status: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for m, p, s in self.requests
                if (not method or m == method) and p.startswith(path_prefix) and (status is None or s == status)
            )

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()

    def _touch(self, issue: FakeIssue) -> None:
        issue.updated_at = _now()
        issue.version += 1

    # Request handling (called from the server's threads)

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict[str, str], Any]:
        if self._delay:
            time.sleep(self._delay)
        if self._fail_status:
            return self._fail_status, {}, {"message": "Server Error"}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, {"message": "Bad credentials"}
        if self._limited:
            status, reset = self._limited
            extra = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
            if status == 429:
                extra["retry-after"] = str(max(reset - int(time.time()), 1))
            return status, extra, {"message": "API rate limit exceeded"}
        with self.lock:
            status, extra, payload = self._route(method, path, headers, body)
            if status != 304:
                self.rate_remaining = max(self.rate_remaining - 1, 0)
            return status, extra, payload

    def _route(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(path)
        route = parts.path
        data = json.loads(body) if body else None
        if route == "/graphql" and method == "POST" and "graphql" not in self.without:
            return 200, {}, self._graphql(data or {})
        prefix = f"/repos/{REPO}"
        if not route.startswith(prefix):
            return 404, {}, {"message": "Not Found"}
        rest = route[len(prefix) :]
        if rest == "/issues" and method == "GET" and "list" not in self.without:
            return self._conditional(headers, self._list_issues(parts.query))
        if m := re.fullmatch(r"/collaborators/([^/]+)/permission", rest):
            login = m.group(1)
            if login not in self.permissions:
                return 404, {}, {"message": "Not Found"}
            return 200, {}, {"permission": self.permissions[login], "user": {"login": login}}
        m = re.fullmatch(r"/issues/(\d+)(/[a-z]+)?", rest)
        if not m or int(m.group(1)) not in self.issues:
            return 404, {}, {"message": "Not Found"}
        issue, sub = self.issues[int(m.group(1))], m.group(2) or ""
        if sub == "" and method == "GET":
            return self._conditional(headers, issue.rest())
        if sub == "" and method == "PATCH":
            issue.state = (data or {}).get("state", issue.state)
            self._touch(issue)
            return 200, {}, issue.rest()
        if sub == "/comments" and method == "POST":
            issue.comments.append({"body": (data or {})["body"], "user": BOT})
            self._touch(issue)
            return 201, {}, {"id": len(issue.comments), "body": (data or {})["body"]}
        if sub == "/labels" and method == "POST":
            for name in (data or {}).get("labels", []):
                self.label(issue.number, name, by=BOT)
            return 200, {}, [{"name": name} for name in issue.labels]
        if sub in ("/events", "/timeline") and method == "GET" and "events" not in self.without:
            return self._conditional(headers, issue.events)
        return 404, {}, {"message": "Not Found"}

    def _list_issues(self, query: str) -> list[dict[str, Any]]:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        per_page, page = int(params.get("per_page", 30)), int(params.get("page", 1))
        since = params.get("since", "")
        ordered = sorted(
            (i for i in self.issues.values() if i.updated_at >= since),
            key=lambda i: (i.updated_at, i.version, i.number),
            reverse=params.get("direction", "desc") == "desc",
        )
        return [issue.rest() for issue in ordered[(page - 1) * per_page : page * per_page]]

    def _conditional(self, headers, payload: Any) -> tuple[int, dict[str, str], Any]:
        etag = '"' + hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest() + '"'  # noqa: S324
        if headers.get("If-None-Match") == etag:
            return 304, {"etag": etag}, None
        return 200, {"etag": etag}, payload

    def _graphql(self, request: dict[str, Any]) -> dict[str, Any]:
        query, variables = request.get("query", ""), request.get("variables") or {}
        if (variables.get("owner"), variables.get("name")) != (OWNER, NAME):
            return {"data": {"repository": None}, "errors": [{"type": "NOT_FOUND", "message": "no repository"}]}
        repository: dict[str, Any] = {}
        errors = []
        for alias, number in re.findall(r"(\w+)\s*:\s*issue\(number:\s*(\d+)\)", query):
            issue = self.issues.get(int(number))
            if issue is None:
                repository[alias] = None
                errors.append({"type": "NOT_FOUND", "path": ["repository", alias], "message": "not found"})
                continue
            repository[alias] = {
                "number": issue.number,
                "state": issue.state.upper(),
                "labels": {"nodes": [{"name": name} for name in issue.labels[:20]]},
                "timelineItems": {
                    "nodes": [
                        {"createdAt": e["created_at"], "actor": e["actor"], "label": e["label"]}
                        for e in issue.events[-20:]
                    ]
                },
            }
        answer: dict[str, Any] = {"data": {"repository": repository}}
        if errors:
            answer["errors"] = errors
        return answer


def _handler_for(fake: FakeGitHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, extra, payload = fake.handle(self.command, self.path, self.headers, body)
            except (ValueError, KeyError) as exc:
                status, extra, payload = 400, {}, {"message": f"bad request: {exc}"}
            with fake.lock:
                fake.requests.append((self.command, urlsplit(self.path).path, status))
            raw = b"" if status == 304 or payload is None else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                headers = {
                    "x-ratelimit-limit": str(fake.rate_limit_total),
                    "x-ratelimit-remaining": str(fake.rate_remaining),
                    "x-ratelimit-reset": str(fake.rate_reset),
                    **extra,
                }
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out test)
                pass

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args) -> None:  # keep test output quiet
            pass

    return Handler
