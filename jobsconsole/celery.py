"""The Celery app: transport and executor only; the database holds every job."""

import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsconsole.settings")

app = Celery("jobsconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule_periodic_work(sender, **kwargs) -> None:
    from django.conf import settings

    from jobs import task_names

    sender.add_periodic_task(settings.JOBS_RECONCILE_SECONDS, sender.signature(task_names.RECONCILE), name="reconcile")
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
        import logging

        logging.getLogger("jobs.github").exception("approval.pollIntervalMs unreadable; polling every 30s")
        return 30.0
