"""The Celery app: transport and executor only; the database holds every job."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsconsole.settings")

app = Celery("jobsconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule_periodic_work(sender, **kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(settings.JOBS_RECONCILE_SECONDS, sender.signature("jobs.reconcile"), name="reconcile")
