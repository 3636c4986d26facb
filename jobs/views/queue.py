"""The backpressure panel: utilization, cancel low-priority jobs, capacity, pausing one kind of work."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import entrypoints, selectors
from jobs.actions.perform import perform
from jobs.forms import CapacityForm
from jobs.models import Priority
from jobs.selectors.records import PAUSED_COUNT_CAP
from jobs.selectors.stats import capacity_warning
from jobs.services.audit import Actor
from jobs.services.config import config_get
from jobs.views.common import HtmxHttpRequest, done, form_data, login_required, page, require_perm, service_errors
from jobs.views.config import warn_about_capacity


@login_required
@require_GET
def backpressure(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    context = {
        "cfg": cfg,
        "queue": selectors.queue_stats(cfg),
        "low_priority": selectors.low_priority_queued().count(),
        "capacity_warning": capacity_warning(cfg),
        "pauses": selectors.pauses(),
        "paused_cap": PAUSED_COUNT_CAP,
        "entrypoint_names": entrypoints.names(),
        "priority_names": [priority.label for priority in Priority],
    }
    return page(request, "jobs/backpressure.html", context, partial="live")


@login_required
@require_POST
@service_errors
def capacity_update(request: HtmxHttpRequest) -> HttpResponse:
    """The capacity panel: two settings of the config.update action."""

    def posted() -> dict:
        data = form_data(CapacityForm(request.POST))
        queue = {"maxConcurrent": data["maxConcurrent"], "maxQueueSize": data["maxQueueSize"]}
        return {"queue": queue, "reason": data["reason"]}

    cfg = perform("config.update", Actor.for_request(request), posted, door="console").data
    warn_about_capacity(request)
    queue = cfg["queue"]
    message = f"Capacity set: maxConcurrent {queue['maxConcurrent']}, maxQueueSize {queue['maxQueueSize']}."
    return done(request, message, reverse("jobs:backpressure"))
