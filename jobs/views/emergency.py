"""Emergency procedures (admin): force-fail running jobs, clear all jobs, disable the system."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors
from jobs.forms import DISABLE_CONFIRMATION, FORCE_FAIL_CONFIRMATION, ConfirmedReasonForm
from jobs.services.config import config_get
from jobs.services.jobs import CLEAR_ALL_CONFIRMATION, jobs_clear_all, jobs_force_fail_running
from jobs.services.system import worker_set_enabled
from jobs.views.common import HtmxHttpRequest, acting, done, form_data, require_perm, service_errors


@login_required
@require_GET
def emergency(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.emergency")
    context = {
        "store": selectors.store_stats(),
        "cfg": config_get(),
        "phrases": {
            "force_fail": FORCE_FAIL_CONFIRMATION,
            "clear_all": CLEAR_ALL_CONFIRMATION,
            "disable": DISABLE_CONFIRMATION,
        },
    }
    return TemplateResponse(request, "jobs/emergency.html", context)


@login_required
@require_POST
@service_errors
def emergency_force_fail_running(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.emergency", action="emergency.force_fail_running", object_type="job")
    data = form_data(ConfirmedReasonForm(request.POST, phrase=FORCE_FAIL_CONFIRMATION))
    failed = jobs_force_fail_running(actor=actor, reason=data["reason"])
    return done(request, f"Force-failed {failed} running job(s); they are in the DLQ.", reverse("jobs:emergency"))


@login_required
@require_POST
@service_errors
def emergency_clear_all(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.emergency", action="emergency.clear_all", object_type="job")
    data = form_data(ConfirmedReasonForm(request.POST, phrase=CLEAR_ALL_CONFIRMATION))
    result = jobs_clear_all(actor=actor, reason=data["reason"], confirm=data["confirm"])
    return done(request, f"Removed {result['removed']} job(s); export: {result['export']}.", reverse("jobs:emergency"))


@login_required
@require_POST
@service_errors
def emergency_disable(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.emergency", action="worker.disable", object_type="config")
    data = form_data(ConfirmedReasonForm(request.POST, phrase=DISABLE_CONFIRMATION))
    worker_set_enabled(actor=actor, enabled=False, reason=data["reason"])
    return done(request, "Job system disabled: running jobs finish, none start.", reverse("jobs:emergency"))
