"""The engine's periodic work, added to a project's Celery app.

    app = Celery("shop")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    jobs.beat.schedule(app)

Beat then runs the reconciler every JOBS_RECONCILE_SECONDS and the approval
watcher's poll every approval.pollIntervalMs.
"""

from __future__ import annotations

import logging
import sys

from celery import Celery

logger = logging.getLogger("jobs.github")


def schedule(app: Celery) -> None:
    app.on_after_configure.connect(_add_periodic_tasks, sender=app, weak=False)


def _add_periodic_tasks(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    from jobs import task_names
    from jobs.conf import DEFAULTS

    # Read before Django's apps are loaded, so before the app filled in its defaults.
    reconcile_seconds = getattr(settings, "JOBS_RECONCILE_SECONDS", DEFAULTS["JOBS_RECONCILE_SECONDS"])
    sender.add_periodic_task(reconcile_seconds, sender.signature(task_names.RECONCILE), name="reconcile")
    sender.add_periodic_task(
        _approval_poll_seconds(), sender.signature(task_names.POLL_APPROVALS), name="poll-approvals"
    )


def _approval_poll_seconds() -> float:
    """approval.pollIntervalMs, read once when beat starts: a shorter interval needs a beat restart
    (a longer one takes effect at once, since the poll skips ticks that come too early)."""
    if not {"beat", "--beat", "-B"} & set(sys.argv):
        return 30.0  # only beat uses the schedule; other processes need not touch the database
    try:
        import django

        django.setup()  # beat configures the app before Django's apps are loaded
        from jobs.services.config import config_get

        return config_get().approval.pollIntervalMs / 1000
    except Exception:  # database not reachable yet: the default interval, not a crash of beat
        logger.exception("approval.pollIntervalMs unreadable; polling every 30s")
        return 30.0
