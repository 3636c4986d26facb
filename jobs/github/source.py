"""GitHub as the source of approvals: issue labels, read in batches, and the writes back.

A job waits on an issue of GITHUB_REPO named by its issueId ("42", "#42",
"owner/repo#42" or the issue's URL). The issue approves the job when it carries
one of approval.labels (any case) added by someone with write access to the
repository (the login comes from the issue's LabeledEvent timeline).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from jobs.github.client import UNSUPPORTED, GitHubClient, GitHubError, GitHubRefused
from jobs.github.watcher_state import blocked_until, configured, poll_interval_seconds, state_get, state_record
from jobs.models import GitHubOutbox, Job
from jobs.services.audit import Actor
from jobs.services.config import config_get
from jobs.services.errors import Unavailable

logger = logging.getLogger("jobs.github")

UNKNOWN_LABELER = "unknown-labeler"
BATCH_SIZE = 100  # GitHub's limit of nodes per GraphQL connection, and a sane query size

_ISSUE_FIELDS = """
fragment IssueApproval on Issue {
  number
  state
  labels(first: 20) { nodes { name } }
  timelineItems(itemTypes: [LABELED_EVENT], last: 20) {
    nodes { ... on LabeledEvent { createdAt actor { login } label { name } } }
  }
}
"""


class ApprovalSourceUnavailable(Unavailable):
    """A force check could not ask GitHub (down, slow, rate limited, backing off).

    The service-level error (a 503 for the API and the console) that the client's
    GitHubError subclasses (GitHubUnreachable, RateLimited, ...) become here.
    """

    code = "github_unavailable"


# Issue references


_ISSUE_RE = re.compile(
    r"^(?:https?://[^/]+/(?P<url_repo>[^/]+/[^/]+)/(?:issues|pull)/|(?P<repo>[\w.-]+/[\w.-]+)#|#)?(?P<number>\d{1,9})/?$"
)


def parse_issue_number(issue_id: str, repo: str) -> int | None:
    """The issue number in GITHUB_REPO that ``issue_id`` names, or None (other repo, not an issue)."""
    match = _ISSUE_RE.match((issue_id or "").strip())
    if not match:
        return None
    named_repo = match.group("url_repo") or match.group("repo")
    if named_repo and named_repo.lower() != repo.lower():
        return None
    number = int(match.group("number"))
    return number or None


# Reading issues


@dataclass(frozen=True)
class IssueApproval:
    number: int
    found: bool
    state: str = ""
    labels: tuple[str, ...] = ()
    # approval label (lowercase) -> logins who added it, most recent first
    labelers: dict[str, tuple[str, ...]] | None = None

    def approval_labels(self, wanted: set[str]) -> list[str]:
        return [name for name in self.labels if name.lower() in wanted]

    def candidate_logins(self, wanted: set[str]) -> list[str]:
        """Who added each current approval label (its latest LabeledEvent: an earlier
        labeler whose label was removed and re-added by someone else does not count)."""
        logins: list[str] = []
        for name in self.approval_labels(wanted):
            latest = (self.labelers or {}).get(name.lower(), ())[:1]
            logins.extend(login for login in latest if login not in logins)
        return logins


def issues_fetch(client: GitHubClient, numbers: list[int]) -> dict[int, IssueApproval]:
    """Labels and labelers of ``numbers``: one GraphQL query per 100 issues.

    A GitHub-compatible API without GraphQL (it refuses the query) is read over
    REST instead, one request per issue; who labeled is then asked only for
    issues that carry an approval label (``approver_of``).
    """
    try:
        return _issues_fetch_graphql(client, numbers)
    except GitHubRefused as exc:
        if exc.status not in UNSUPPORTED:
            raise
        logger.info("GraphQL refused (%s); reading %d issue(s) over REST", exc, len(numbers))
    return {number: _issue_from_rest(number, client.issue(number)) for number in sorted(set(numbers))}


def _issue_from_rest(number: int, data: dict[str, Any] | None) -> IssueApproval:
    if data is None:
        return IssueApproval(number=number, found=False)
    labels = tuple(
        str(item["name"] if isinstance(item, dict) else item)
        for item in (data.get("labels") or [])
        if (isinstance(item, dict) and item.get("name")) or (isinstance(item, str) and item)
    )
    return IssueApproval(number=number, found=True, state=str(data.get("state") or ""), labels=labels)


def _labelers_from_events(events: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """approval label (lowercase) -> logins who added it, most recent first (REST issue events)."""
    labelers: dict[str, list[str]] = {}
    for event in reversed(events):  # GitHub lists events oldest first
        if event.get("event") != "labeled":
            continue
        name = str((event.get("label") or {}).get("name") or "").lower()
        login = str((event.get("actor") or {}).get("login") or "")
        if name and login:
            labelers.setdefault(name, []).append(login)
    return {name: tuple(logins) for name, logins in labelers.items()}


def _issues_fetch_graphql(client: GitHubClient, numbers: list[int]) -> dict[int, IssueApproval]:
    found: dict[int, IssueApproval] = {}
    unique = sorted(set(numbers))
    for start in range(0, len(unique), BATCH_SIZE):
        batch = unique[start : start + BATCH_SIZE]
        fields = " ".join(f"i{n}: issue(number: {int(n)}) {{ ...IssueApproval }}" for n in batch)
        query = f"query($owner: String!, $name: String!) {{ repository(owner: $owner, name: $name) {{ {fields} }} }}"
        data = client.graphql(query + _ISSUE_FIELDS, {"owner": client.owner, "name": client.name})
        repository = data.get("repository")
        if not isinstance(repository, dict):
            raise GitHubError(f"repository {client.repo} not found or not readable with this token")
        for n in batch:
            found[n] = _issue_from_node(n, repository.get(f"i{n}"))
    return found


def _issue_from_node(number: int, node: Any) -> IssueApproval:
    if not isinstance(node, dict):
        return IssueApproval(number=number, found=False)
    labels = tuple(
        str(item["name"])
        for item in ((node.get("labels") or {}).get("nodes") or [])
        if isinstance(item, dict) and item.get("name")
    )
    labelers: dict[str, list[str]] = {}
    events = [e for e in ((node.get("timelineItems") or {}).get("nodes") or []) if isinstance(e, dict)]
    # Timeline nodes come oldest first; createdAt has one-second precision, so ties keep that order.
    latest_first = sorted(enumerate(events), key=lambda pair: (str(pair[1].get("createdAt") or ""), pair[0]))
    for _, event in reversed(latest_first):
        name = ((event.get("label") or {}).get("name") or "").lower()
        login = (event.get("actor") or {}).get("login") or ""
        if name and login:
            labelers.setdefault(name, []).append(login)
    return IssueApproval(
        number=number,
        found=True,
        state=str(node.get("state") or ""),
        labels=labels,
        labelers={k: tuple(v) for k, v in labelers.items()},
    )


def approver_of(client: GitHubClient, issue: IssueApproval, wanted: set[str]) -> str | None:
    """The most recent labeler of an approval label who has write access, or None.

    When GitHub cannot say who added the label (no issue events on this API, or the
    LabeledEvent is older than the timeline read), the label still approves, as
    ``UNKNOWN_LABELER``: on GitHub only people with triage access or more can label
    an issue at all. A labeler who is known and lacks write access never approves.
    """
    if not issue.approval_labels(wanted):
        return None
    if issue.labelers is None:
        events = client.issue_events(issue.number)
        issue = replace(issue, labelers=_labelers_from_events(events) if events is not None else {})
    candidates = issue.candidate_logins(wanted)
    if not candidates:
        logger.info("issue #%s: approval label, labeler unknown to this API", issue.number)
        return UNKNOWN_LABELER
    for login in candidates:
        if client.can_write(login):
            return login
        logger.warning("issue #%s: label by %s ignored (no write access to %s)", issue.number, login, client.repo)
    return None


def approval_labels() -> set[str]:
    return {label.lower() for label in config_get().approval.labels}


# Outbox: writes to GitHub are recorded, then delivered by the poll (with backoff)


def outbox_add(*, job: Job, kind: str, payload: dict[str, Any] | None = None) -> bool:
    """Queue one write about ``job``'s issue; False when the issue is not in GITHUB_REPO or already queued."""
    number = parse_issue_number(job.issue_id, settings.JOBS_GITHUB_REPO)
    if number is None:
        return False
    _, created = GitHubOutbox.objects.get_or_create(
        job_id=job.id, kind=kind, defaults={"issue_number": number, "payload": payload or {}}
    )
    return created


class GitHubApprovalSource:
    """The ApprovalSource of jobs.services.approvals, backed by GitHub issues."""

    def approved_by(self, job: Job) -> str | None:
        number = parse_issue_number(job.issue_id, settings.JOBS_GITHUB_REPO)
        if number is None:
            return None
        until, why = blocked_until(state_get())
        if until:
            raise ApprovalSourceUnavailable(f"GitHub not asked: {why}; try again after {until.isoformat()}")
        client = GitHubClient.from_settings()
        try:
            issue = issues_fetch(client, [number])[number]
            login = approver_of(client, issue, approval_labels()) if issue.found else None
        except GitHubError as exc:
            state_record(client, exc, interval_seconds=poll_interval_seconds())
            raise ApprovalSourceUnavailable(f"GitHub could not be asked: {exc}") from exc
        state_record(client, None, interval_seconds=poll_interval_seconds())
        return login

    def on_expired(self, job: Job) -> None:
        outbox_add(job=job, kind=GitHubOutbox.Kind.EXPIRED)

    def on_approved_in_console(self, job: Job, actor: Actor) -> None:
        outbox_add(job=job, kind=GitHubOutbox.Kind.LABEL, payload={"by": actor.name})

    def on_approved_by_label(self, job: Job, actor: Actor) -> None:
        login = actor.name.removeprefix("github:")
        outbox_add(job=job, kind=GitHubOutbox.Kind.APPROVED, payload={"by": login})


def github_approval_source() -> GitHubApprovalSource | None:
    """The GitHub source, or None when GITHUB_TOKEN / GITHUB_REPO are not set."""
    return GitHubApprovalSource() if configured() else None
