"""The approval watcher's state: backoff and rate limit, shared by every process through the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.github.client import GitHubClient, RateLimited
from jobs.models import GitHubOutbox, GitHubPollState
from jobs.services.config import config_get

MAX_BACKOFF = timedelta(minutes=15)


def state_get() -> GitHubPollState:
    state, _ = GitHubPollState.objects.get_or_create(pk=1)
    return state


def blocked_until(state: GitHubPollState, now=None) -> tuple[Any, str]:
    """(until, why) when GitHub must not be called now, else (None, "")."""
    now = now or timezone.now()
    if state.backoff_until and state.backoff_until > now:
        return state.backoff_until, f"backing off after {state.failures} failure(s): {state.last_error}"
    if state.rate_limit_remaining == 0 and state.rate_limit_reset and state.rate_limit_reset > now:
        return state.rate_limit_reset, "rate limit exhausted"
    return None, ""


def state_record(client: GitHubClient, error: Exception | None, *, interval_seconds: float) -> GitHubPollState:
    """Remember the rate limit GitHub reported and, after an error, when to try again."""
    now = timezone.now()
    with transaction.atomic():
        state, _ = GitHubPollState.objects.select_for_update().get_or_create(pk=1)
        if client.rate_remaining is not None:
            state.rate_limit_remaining = client.rate_remaining
            state.rate_limit_reset = client.rate_reset
        if error is None:
            state.failures = 0
            state.backoff_until = None
            state.last_error = ""
            state.last_success_at = now
        elif isinstance(error, RateLimited):
            state.backoff_until = error.until
            state.rate_limit_remaining = 0
            state.rate_limit_reset = error.until
            state.last_error = str(error)
        else:
            state.failures += 1
            delay = timedelta(seconds=interval_seconds) * (2 ** min(state.failures, 10))
            state.backoff_until = now + min(delay, MAX_BACKOFF)
            state.last_error = str(error)[:1000]
        state.save()
    return state


def poll_interval_seconds() -> float:
    return config_get().approval.pollIntervalMs / 1000


def watcher_status() -> dict[str, Any]:
    """What the dashboard shows about the approval watcher."""
    if not configured():
        return {
            "configured": False,
            "message": "GitHub approvals are off: set GITHUB_TOKEN and GITHUB_REPO to watch issue labels.",
            "lastPollAt": None,
            "backoffUntil": None,
            "rateLimitRemaining": None,
            "pendingWrites": 0,
        }
    state = GitHubPollState.objects.filter(pk=1).first() or GitHubPollState()
    until, why = blocked_until(state)
    if until:
        message = f"Watching {settings.JOBS_GITHUB_REPO}; paused until {until.isoformat()} ({why})."
    elif state.last_poll_at is None:
        message = f"Watching {settings.JOBS_GITHUB_REPO}; not polled yet."
    else:
        message = f"Watching {settings.JOBS_GITHUB_REPO}."
    return {
        "configured": True,
        "message": message,
        "lastPollAt": state.last_poll_at.isoformat() if state.last_poll_at else None,
        "backoffUntil": until.isoformat() if until else None,
        "rateLimitRemaining": state.rate_limit_remaining,
        "lastError": state.last_error or None,
        "pendingWrites": GitHubOutbox.objects.filter(done_at__isnull=True).count(),
    }


def configured() -> bool:
    return bool(settings.JOBS_GITHUB_TOKEN and settings.JOBS_GITHUB_REPO and "/" in settings.JOBS_GITHUB_REPO)
