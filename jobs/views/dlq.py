"""The DLQ page (entries, groups) and a background operation's progress; its buttons are catalog actions."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from jobs import selectors
from jobs.actions.catalog import DLQ_CLEAR_CONFIRMATION
from jobs.models import BackgroundOperation
from jobs.pagination import keyset_page, parse_limit
from jobs.services.config import config_get
from jobs.services.errors import NotFound
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, service_errors
from jobs.views.emergency import EXPORTS_PERMISSION


@login_required
@require_GET
@service_errors
def dlq_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    grouped = request.GET.get("view") == "groups"
    fingerprint = request.GET.get("fingerprint") or None
    entries = selectors.dlq_entries(fingerprint=fingerprint)
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
        "count": selectors.dlq_count(fingerprint=fingerprint),
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
    if request.htmx and operation.state in (BackgroundOperation.State.DONE, BackgroundOperation.State.FAILED):
        # The DLQ page reloads its entries once the operation has ended.
        trigger_client_event(response, "dlq-changed")
    return response
