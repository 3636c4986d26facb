"""The DLQ page (entries, groups) and a background operation's progress; its buttons are catalog actions."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from jobs import selectors
from jobs.actions.catalog import DLQ_CLEAR_CONFIRMATION
from jobs.actions.perform import perform
from jobs.pagination import keyset_page, parse_limit
from jobs.services.audit import Actor
from jobs.services.config import config_get
from jobs.services.errors import InvalidInput, NotFound
from jobs.templatetags.console import pretty_json
from jobs.views.common import HtmxHttpRequest, done, login_required, page, require_perm, service_errors
from jobs.views.emergency import EXPORTS_PERMISSION


@login_required
@require_GET
@service_errors
def dlq_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    grouped = request.GET.get("view") == "groups"
    fingerprint = request.GET.get("fingerprint") or None
    params_text = (request.GET.get("params") or "").strip()
    params = selectors.params_filter(params_text)
    entries = selectors.dlq_entries(fingerprint=fingerprint, params=params)
    count = selectors.dlq_count(fingerprint=fingerprint)
    # Without a params filter the entries shown are all of them: no second count.
    matching, matching_capped = (
        selectors.dlq_count_capped(fingerprint=fingerprint, params=params) if params else (count, False)
    )
    context = {
        "grouped": grouped,
        "fingerprint": fingerprint,
        "groups": selectors.dlq_groups() if grouped else None,
        "page": None
        if grouped
        else keyset_page(
            entries,
            cursor=request.GET.get("cursor"),
            limit=parse_limit(request.GET.get("limit")),
            fields=("added_at", "job"),
        ),
        "count": count,
        "params_text": params_text,
        "matching": matching,
        "matching_capped": matching_capped,
        "cfg": config_get(),
        "clear_phrase": DLQ_CLEAR_CONFIRMATION,
        "exports": selectors.recent_exports() if request.user.has_perm(EXPORTS_PERMISSION) else [],
        "first_page": not request.GET.get("cursor"),
        # A retry-all under way, whoever started it: its progress explains the counts as they change.
        "operations": selectors.operations_under_way(("dlq.retry_all", "dlq.retry_group")),
    }
    return page(request, "jobs/dlq.html", context, partial="entries")


@login_required
@require_GET
def operation_detail(request: HtmxHttpRequest, operation_id: uuid.UUID) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    try:
        operation = selectors.operation(operation_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    response = page(request, "jobs/operation.html", {"operation": operation}, partial="progress")
    if request.htmx and operation.is_final:
        # The DLQ page reloads its entries once the operation has ended.
        trigger_client_event(response, "dlq-changed")
    return response


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def dlq_retry_edited_view(request: HtmxHttpRequest, target: uuid.UUID) -> HttpResponse:
    """Retry one entry as a new job with params the operator edited; the form keeps what was typed on an error."""
    if request.method == "POST":  # the action authorizes, and records a refusal
        typed = {"params": request.POST.get("params", ""), "reason": request.POST.get("reason", "")}
        try:
            outcome = perform("dlq.retry_edited", Actor.for_request(request), typed, door="console", target=target)
        except InvalidInput as exc:
            return _edited_retry_form(request, target, typed, error=exc.message, status=exc.status)
        return done(request, outcome.message, reverse("jobs:job-detail", args=[outcome.data["job"]["id"]]))
    require_perm(request, "jobs.retry_job")
    return _edited_retry_form(request, target, None)


def _edited_retry_form(request, target, typed: dict | None, *, error: str = "", status: int = 200) -> HttpResponse:
    entry = selectors.dlq_entry_of(target)
    if entry is None:
        raise Http404(f"job {target} is not in the DLQ")
    typed = typed or {"params": pretty_json(entry.job.params), "reason": ""}
    context = {"entry": entry, "job": entry.job, "typed": typed, "error": error}
    return TemplateResponse(request, "jobs/dlq_retry_edited.html", context, status=status)
