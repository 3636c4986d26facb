"""The configuration page (admin): every jobs.json setting, validated by the service."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors
from jobs.actions.perform import perform
from jobs.forms import config_changes, config_fields
from jobs.selectors.stats import capacity_warning
from jobs.services.audit import Actor
from jobs.services.config import config_get
from jobs.services.errors import InvalidInput
from jobs.views.common import HtmxHttpRequest, done, login_required, require_perm


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
        "row": selectors.runtime_config_row(),
        "capacity_warning": capacity_warning(cfg),
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
    """Every setting of jobs.json as one form, performing the config.update action."""

    def posted() -> dict:
        changes = config_changes(config_get(), request.POST)
        if not changes:
            raise InvalidInput("config: nothing changed")
        return {**changes, "reason": request.POST.get("reason", "")}

    try:
        outcome = perform("config.update", Actor.for_request(request), posted, door="console")
    except InvalidInput as exc:
        # Show the form again with what was typed and the message next to its field.
        return _page(request, error=exc.message, status=exc.status, values=request.POST)
    warn_about_capacity(request)
    return done(request, outcome.message, reverse("jobs:config"))


def warn_about_capacity(request: HtmxHttpRequest) -> None:
    """After a save: say so when maxConcurrent now asks for more than the live workers can run."""
    if warning := capacity_warning(config_get()):
        messages.warning(request, f"{warning}.")
