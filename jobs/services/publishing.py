"""Publishing wake-up messages to Celery, after commit, never blocking on the broker.

A message only asks a worker to admit the next job; the database decides which
one. If the broker is down the job stays queued with ``published_at`` cleared and
the reconciler publishes it again later, so a Redis outage delays jobs and loses
none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from jobs.models import Job

logger = logging.getLogger("jobs.publishing")


def publish_after_commit(job_ids: Iterable) -> None:
    ids = [str(job_id) for job_id in job_ids]
    if ids:
        transaction.on_commit(lambda: publish_now(ids))


def publish_now(job_ids: list[str]) -> int:
    """Send one wake-up per id; returns how many went out."""
    from jobs.tasks import run_jobs

    sent = 0
    for job_id in job_ids:
        try:
            run_jobs.apply_async(args=[job_id], task_id=job_id, retry=False)
            sent += 1
        except Exception as exc:  # broker down: the reconciler will publish it again
            logger.warning("could not publish job %s (%s); the reconciler will retry", job_id, exc)
            Job.objects.filter(id__in=job_ids[sent:]).update(published_at=None)
            break
    return sent
