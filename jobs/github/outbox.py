"""Delivering the writes to GitHub that the outbox holds: comments, labels, closing an issue.

The engine never calls GitHub: services record what to say (``outbox_add``), and
the poll delivers it here, oldest first, backing off when GitHub is unwell.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from jobs.github.client import GitHubClient, GitHubError, GitHubRefused
from jobs.github.links import issue_references
from jobs.github.source import UNKNOWN_LABELER
from jobs.models import GitHubOutbox, Job
from jobs.services.config import config_get

MAX_WRITE_ATTEMPTS = 10


def _write(client: GitHubClient, item: GitHubOutbox, labels: list[str]) -> None:
    job_ref = f"Job `{item.job_id}`"
    if item.kind == GitHubOutbox.Kind.EXPIRED:
        client.comment(item.issue_number, f"{job_ref} was not approved in time and failed: Approval TTL expired.")
        still_waiting = Job.objects.waiting().filter(
            issue_id__in=issue_references(settings.JOBS_GITHUB_REPO, item.issue_number)
        )
        if not still_waiting.exists():
            client.close(item.issue_number)
    elif item.kind == GitHubOutbox.Kind.APPROVED:
        by = item.payload.get("by", "")
        who = f"@{by}" if by and by != UNKNOWN_LABELER else "its approval label"
        client.comment(item.issue_number, f"{job_ref} approved by {who} and queued.")
    elif item.kind == GitHubOutbox.Kind.LABEL:
        client.add_label(item.issue_number, labels[0])
    elif item.kind == GitHubOutbox.Kind.EXPIRING:
        client.comment(
            item.issue_number,
            f"{job_ref} is waiting for approval and expires at {item.payload.get('expiresAt')}. "
            f"Add one of these labels to approve it: {', '.join(labels)}.",
        )


def outbox_flush(client: GitHubClient, *, limit: int = 50) -> int:
    """Deliver pending writes, oldest first. Transient errors stop the flush (and back off)."""
    labels = list(config_get().approval.labels)
    done = 0
    pending = GitHubOutbox.objects.filter(done_at__isnull=True).order_by("created_at")[:limit]
    for item in pending:
        try:
            _write(client, item, labels)
        except GitHubRefused as exc:  # 404 issue gone, 410, 422: retrying will not help for long
            attempts = item.attempts + 1
            GitHubOutbox.objects.filter(pk=item.pk).update(
                attempts=attempts,
                last_error=str(exc)[:1000],
                done_at=timezone.now() if attempts >= MAX_WRITE_ATTEMPTS else None,
            )
            continue
        except GitHubError as exc:
            GitHubOutbox.objects.filter(pk=item.pk).update(attempts=item.attempts + 1, last_error=str(exc)[:1000])
            raise
        GitHubOutbox.objects.filter(pk=item.pk).update(done_at=timezone.now(), last_error="")
        done += 1
    return done
