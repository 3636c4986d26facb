"""The backpressure panel: utilization, cancel low-priority jobs, capacity."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors
from jobs.forms import CapacityForm, ReasonForm
from jobs.services.config import config_get, config_update
from jobs.services.jobs import jobs_cancel_low_priority, low_priority_queued
from jobs.views.common import HtmxHttpRequest, acting, done, form_data, page, require_perm, service_errors


@login_required
@require_GET
def backpressure(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    context = {
        "cfg": cfg,
        "queue": selectors.queue_stats(cfg),
        "low_priority": low_priority_queued().count(),
    }
    return page(request, "jobs/backpressure.html", context, partial="live")


@login_required
@require_POST
@service_errors
def queue_cancel_low_priority(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.cancel_job", action="queue.cancel_low_priority", object_type="job")
    data = form_data(ReasonForm(request.POST))
    canceled = jobs_cancel_low_priority(actor=actor, reason=data["reason"])
    return done(request, f"Canceled {canceled} low-priority job(s).", reverse("jobs:backpressure"))


@login_required
@require_POST
@service_errors
def capacity_update(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.manage_config", action="config.update", object_type="config")
    data = form_data(CapacityForm(request.POST))
    changes = {"queue": {"maxConcurrent": data["maxConcurrent"], "maxQueueSize": data["maxQueueSize"]}}
    cfg = config_update(actor=actor, changes=changes, reason=data["reason"])
    message = f"Capacity set: maxConcurrent {cfg.queue.maxConcurrent}, maxQueueSize {cfg.queue.maxQueueSize}."
    return done(request, message, reverse("jobs:backpressure"))
