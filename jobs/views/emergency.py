"""The emergency page (admin); force-fail running, clear all and disable are catalog actions."""

from __future__ import annotations

from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.actions.catalog import CLEAR_ALL_CONFIRMATION, DISABLE_CONFIRMATION, FORCE_FAIL_CONFIRMATION
from jobs.services.config import config_get
from jobs.views.common import HtmxHttpRequest, login_required, require_perm


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
