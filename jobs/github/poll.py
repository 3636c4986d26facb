"""The approval watcher: one poll per beat tick, and the webhook's label handler.

A poll, in order:
1. expires waiting jobs past their TTL (expiry always wins over a label);
2. asks GitHub whether any issue of the repository changed since the last poll:
   one conditional REST request (the most recently updated issue, with the stored
   ETag); 304 Not Modified costs no rate limit;
3. when something changed, lists the issues updated since the last change seen
   (REST ``since``, 100 per page); then reads labels and labelers with GraphQL,
   100 issues per query, of the waiting jobs' issues that changed or were never
   checked (all of them the first time, and once an hour as a safety net);
4. approves each job whose issue carries an approval label added by someone with
   write access (services.approvals.job_approve, actor github:<login>);
5. delivers pending writes (expiry comment + close, approval comment, console
   approval label, expiry warning).

GitHub being down, slow or rate limiting never approves, never fails a job and
never raises into the engine: the poll records the error, backs off
(exponentially; the next tick reads the backoff from the database) and returns.
"""

from __future__ import annotations

import logging
import urllib.parse
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from jobs import selectors
from jobs.github.client import UNSUPPORTED, GitHubClient, GitHubError, GitHubRefused
from jobs.github.outbox import outbox_flush
from jobs.github.source import (
    approval_labels,
    approver_of,
    issues_fetch,
    outbox_add,
    parse_issue_number,
)
from jobs.github.watcher_state import blocked_until, configured, state_get, state_record
from jobs.models import GitHubDelivery, GitHubOutbox, GitHubPollState, Job, Status
from jobs.services.approvals import approvals_expire_due, job_approve
from jobs.services.audit import Actor, deny
from jobs.services.config import config_get
from jobs.services.errors import ServiceError

logger = logging.getLogger("jobs.github")

_LOCK_KEY = 0x6A6F6273  # one poll at a time across workers ("jobs")
ROLLING_RECHECK = 100  # a poll re-reads checked issues, oldest first, up to a full GraphQL query
MAX_CHANGE_PAGES = 3  # beyond 300 changed issues, re-reading every waiting issue is cheaper
# A full re-read now and then, in case an update ever slips past the change list.
FULL_CHECK_EVERY = timedelta(hours=1)
DELIVERY_RETENTION = timedelta(days=30)


@contextmanager
def _single_poller():
    """A session-level advisory lock on PostgreSQL; elsewhere (SQLite, one process) a no-op."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def approvals_poll(*, force: bool = False, client: GitHubClient | None = None) -> dict[str, Any]:
    """One watcher tick. ``force`` ignores the poll interval (not the backoff). Never raises GitHub errors."""
    report: dict[str, Any] = {"expired": approvals_expire_due(), "approved": 0, "requests": 0, "skipped": ""}
    if not configured():
        report["skipped"] = "GitHub not configured"
        return report
    cfg = config_get()
    interval = cfg.approval.pollIntervalMs / 1000
    with _single_poller() as acquired:
        if not acquired:
            report["skipped"] = "another poll is running"
            return report
        state = state_get()
        now = timezone.now()
        # Beat ticks at the interval it read at start; skipping early ticks makes a
        # longer interval set in the console take effect without a beat restart.
        if not force and state.last_poll_at and now - state.last_poll_at < timedelta(seconds=interval * 0.8):
            report["skipped"] = "polled less than approval.pollIntervalMs ago"
            return report
        until, why = blocked_until(state, now)
        if until:
            report["skipped"] = f"{why}; next try after {until.isoformat()}"
            return report
        client = client or GitHubClient.from_settings()
        error: Exception | None = None
        try:
            report["approved"] = _check_waiting(client, state, cfg)
            _flag_expiring(cfg)
            report["written"] = outbox_flush(client)
        except GitHubError as exc:
            error = exc
            report["error"] = str(exc)
            logger.warning("approval poll: %s", exc)
        except Exception as exc:  # a bug here must not stop beat or the worker
            error = exc
            report["error"] = f"unexpected: {exc}"
            logger.exception("approval poll failed")
        report["requests"] = client.requests
        state = state_record(client, error, interval_seconds=interval)
        GitHubPollState.objects.filter(pk=1).update(last_poll_at=now, last_requests=client.requests)
        # GitHub redelivers on request for a few days; a month of delivery ids is plenty.
        GitHubDelivery.objects.filter(received_at__lt=now - DELIVERY_RETENTION).delete()
        report["backoffUntil"] = state.backoff_until.isoformat() if state.backoff_until else None
    return report


def _waiting_issues(repo: str) -> dict[int, list[Job]]:
    by_issue: dict[int, list[Job]] = {}
    for job in Job.objects.waiting().only("id", "issue_id", "approval_expires_at"):
        number = parse_issue_number(job.issue_id, repo)
        if number is not None:
            by_issue.setdefault(number, []).append(job)
    return by_issue


def _check_waiting(client: GitHubClient, state: GitHubPollState, cfg) -> int:
    by_issue = _waiting_issues(client.repo)
    if not by_issue:
        return 0
    now = timezone.now()
    changed, etag, watermark = _repository_changed(client, state.issues_etag)
    # Oldest check first: each poll also re-reads some of them (filling its last GraphQL
    # query), so a label change the change marker missed is still seen within N/100 polls.
    order = [n for n in (state.checked_issues or []) if n in by_issue]
    checked = set(order)
    unseen = set(by_issue) - checked
    full = False
    if not changed:
        to_check = unseen
    else:
        recent = None
        if state.issues_watermark and state.full_check_at and now - state.full_check_at < FULL_CHECK_EVERY:
            recent = _changed_since(client, state.issues_watermark)
        if recent is None:  # first time, too many changes, or the periodic full check
            to_check, full = set(by_issue), True
        else:
            to_check = (recent & set(by_issue)) | unseen
    room = -len(to_check) % ROLLING_RECHECK if to_check else ROLLING_RECHECK
    to_check |= set([n for n in order if n not in to_check][:room])
    approved = 0
    if to_check:
        issues = issues_fetch(client, sorted(to_check))
        wanted = {label.lower() for label in cfg.approval.labels}
        for number, issue in issues.items():
            if not issue.found or not issue.approval_labels(wanted):
                continue
            login = approver_of(client, issue, wanted)
            if login is None:
                continue
            for job in by_issue[number]:
                approved += _approve(job.id, login, f"approval label on issue #{number}")
    # Only now is everything up to this ETag seen; an error above keeps the old marker.
    update: dict[str, Any] = {
        "issues_etag": etag or state.issues_etag,
        "issues_watermark": watermark or state.issues_watermark,
        "checked_issues": [n for n in order if n not in to_check] + sorted(to_check),
    }
    if full:
        update["full_check_at"] = now
    GitHubPollState.objects.filter(pk=1).update(**update)
    return approved


def _repository_changed(client: GitHubClient, etag: str) -> tuple[bool, str, str]:
    """(changed, etag, updated_at of the latest change): has any issue changed since ``etag``?

    One request on a fixed URL, so the stored ETag applies; a 304 costs no rate limit.
    """
    try:
        resp = client.request(
            "GET", f"/repos/{client.repo}/issues?state=all&sort=updated&direction=desc&per_page=1", etag=etag
        )
    except GitHubRefused as exc:
        if exc.status not in UNSUPPORTED:
            raise
        return True, "", ""  # no change marker on this API: read every waiting issue
    if resp.status == 304:
        return False, etag, ""
    items = resp.data if isinstance(resp.data, list) else []
    latest = str(items[0].get("updated_at") or "") if items and isinstance(items[0], dict) else ""
    return True, resp.etag, latest


def _changed_since(client: GitHubClient, watermark: str) -> set[int] | None:
    """Numbers of the issues updated at or after ``watermark``; None when there are too many to list."""
    numbers: set[int] = set()
    since = urllib.parse.quote(watermark, safe="")
    for page in range(1, MAX_CHANGE_PAGES + 1):
        try:
            resp = client.request(
                "GET",
                f"/repos/{client.repo}/issues?state=all&sort=updated&direction=asc&since={since}&per_page=100&page={page}",
            )
        except GitHubRefused as exc:
            if exc.status not in UNSUPPORTED:
                raise
            return None
        items = [i for i in (resp.data if isinstance(resp.data, list) else []) if isinstance(i, dict)]
        numbers.update(int(i["number"]) for i in items if isinstance(i.get("number"), int))
        if len(items) < 100:
            return numbers
    return None


def _approve(job_id, login: str, reason: str) -> int:
    try:
        job = job_approve(actor=Actor.github(login), job_id=job_id, reason=reason)
    except (ServiceError, PermissionDenied) as exc:  # no longer waiting: approved or canceled meanwhile
        logger.info("job %s not approved from GitHub: %s", job_id, exc)
        return 0
    # Expired inside job_approve: expiry wins. The approval comment is the source's on_approved_by_label.
    return int(job.status == Status.QUEUED)


def _flag_expiring(cfg) -> None:
    for job in selectors.expiring_jobs(cfg).only("id", "issue_id", "approval_expires_at"):
        outbox_add(job=job, kind=GitHubOutbox.Kind.EXPIRING, payload={"expiresAt": job.approval_expires_at.isoformat()})


# Webhook


def label_apply(*, issue_number: int, label: str, sender: str) -> int:
    """A signed, first-time `issues labeled` delivery: approve the issue's waiting jobs.

    Refuses (and audits) a sender without write access. A GitHub error leaves the
    jobs waiting; the poll will see the label on its next tick.
    """
    if label.lower() not in approval_labels():
        return 0
    jobs = _waiting_issues(settings.JOBS_GITHUB_REPO).get(issue_number, [])
    if not jobs:
        return 0
    client = GitHubClient.from_settings()
    try:
        allowed = client.can_write(sender)
    except GitHubError as exc:
        logger.warning(
            "webhook label on #%s: permission of %s unknown (%s); the poll will retry", issue_number, sender, exc
        )
        return 0
    if not allowed:
        for job in jobs:
            with suppress(PermissionDenied):
                deny(
                    Actor.github(sender),
                    action="job.approve",
                    object_type="job",
                    object_ids=[job.id],
                    reason=f"label {label!r} on issue #{issue_number} by a user without write access",
                )
        return 0
    return sum(_approve(job.id, sender, f"label {label!r} added on issue #{issue_number}") for job in jobs)
