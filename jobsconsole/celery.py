"""The Celery app: transport and executor only; the database holds every job."""

import os

from celery import Celery

import jobs.beat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsconsole.settings")

app = Celery("jobsconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
jobs.beat.schedule(app)
