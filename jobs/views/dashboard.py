from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from jobs import selectors
from jobs.services.config import config_get


@login_required
@permission_required("jobs.view_console", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    health = selectors.system_health(config_get())
    return TemplateResponse(request, "jobs/dashboard.html", {"health": health})
