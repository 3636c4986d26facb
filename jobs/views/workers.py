"""The workers page: each worker process, and the job system's on/off switch."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors
from jobs.forms import ReasonForm
from jobs.services.config import config_get
from jobs.services.system import worker_set_enabled
from jobs.views.common import HtmxHttpRequest, acting, done, form_data, page, require_perm, service_errors


@login_required
@require_GET
def worker_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    workers = selectors.workers_listed()
    stats = selectors.worker_stats(cfg)
    context = {"workers": workers, "alive_count": stats["workers"], "cfg": cfg, "stats": stats}
    return page(request, "jobs/workers.html", context, partial="live")


@login_required
@require_POST
@service_errors
def worker_set_enabled_view(request: HtmxHttpRequest) -> HttpResponse:
    enabled = request.POST.get("enabled") == "true"
    action = "worker.enable" if enabled else "worker.disable"
    actor = acting(request, "jobs.manage_config", action=action, object_type="config")
    data = form_data(ReasonForm(request.POST))
    worker_set_enabled(actor=actor, enabled=enabled, reason=data["reason"])
    state = "enabled: workers admit jobs again" if enabled else "disabled: running jobs finish, none start"
    return done(request, f"Job system {state}.", reverse("jobs:worker-list"))
