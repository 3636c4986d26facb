"""The shop's own Celery app, as Celery's Django guide writes it, plus the engine's schedule."""

import os

from celery import Celery

import jobs.beat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
jobs.beat.schedule(app)  # the reconciler and the approval poll, run by `celery -A shop beat`
