"""The configuration page (admin): every jobs.json setting, validated by the service."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs.forms import config_changes, config_fields
from jobs.models import JobsConfig
from jobs.services.config import config_get, config_update
from jobs.services.errors import InvalidInput
from jobs.views.common import HtmxHttpRequest, acting, done, require_perm


def _page(request: HtmxHttpRequest, *, error: str = "", status: int = 200, values=None) -> HttpResponse:
    cfg = config_get()
    sections = config_fields(cfg)
    field = error.split(":", 1)[0] if error else ""
    for section in sections:
        for item in section["fields"]:
            item["error"] = error.split(":", 1)[1].strip() if item["key"] == field else ""
            if values is not None and item["kind"] != "bool" and item["key"] in values:
                item["value"] = values[item["key"]]
    context = {
        "sections": sections,
        "error": error,
        "row": JobsConfig.objects.filter(pk=1).first(),
    }
    return TemplateResponse(request, "jobs/config.html", context, status=status)


@login_required
@require_GET
def config_page(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.manage_config")
    return _page(request)


@login_required
@require_POST
def config_update_view(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.manage_config", action="config.update", object_type="config")
    try:
        changes = config_changes(config_get(), request.POST)
        if not changes:
            raise InvalidInput("config: nothing changed")
        config_update(actor=actor, changes=changes, reason=request.POST.get("reason", "").strip())
    except InvalidInput as exc:
        # Show the form again with what was typed and the message next to its field.
        return _page(request, error=exc.message, status=exc.status, values=request.POST)
    return done(request, f"Configuration saved ({', '.join(changes)}).", reverse("jobs:config"))
