"""The DLQ page: entries and groups, retry one / a group / all (in a worker), clear, clean."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from jobs import selectors
from jobs.forms import DLQ_CLEAR_CONFIRMATION, ConfirmedReasonForm, OptionalReasonForm
from jobs.models import BackgroundOperation
from jobs.pagination import keyset_page, parse_limit
from jobs.services.config import config_get
from jobs.services.dlq import dlq_clean_expired, dlq_clear, dlq_retry
from jobs.services.operations import dlq_retry_all_start
from jobs.views.common import HtmxHttpRequest, acting, done, form_data, page, require_perm, service_errors


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
        "count": entries.count(),
        "cfg": config_get(),
        "clear_phrase": DLQ_CLEAR_CONFIRMATION,
        "first_page": not request.GET.get("cursor"),
    }
    return page(request, "jobs/dlq.html", context, partial="entries")


@login_required
@require_POST
@service_errors
def dlq_retry_view(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    actor = acting(request, "jobs.retry_job", action="dlq.retry", object_type="job", object_ids=[job_id])
    new = dlq_retry(actor=actor, job_id=job_id, reason=form_data(OptionalReasonForm(request.POST))["reason"])
    return done(request, f"Retried as new job {new.id}.", reverse("jobs:dlq-list"))


def _start(request: HtmxHttpRequest, fingerprint: str | None) -> HttpResponse:
    action = "dlq.retry_group" if fingerprint else "dlq.retry_all"
    actor = acting(request, "jobs.retry_job", action=action, object_type="dlq")
    reason = form_data(OptionalReasonForm(request.POST))["reason"]
    operation = dlq_retry_all_start(actor=actor, reason=reason, fingerprint=fingerprint)
    if request.htmx:
        return page(request, "jobs/operation.html", {"operation": operation}, partial="progress")
    return redirect("jobs:operation-detail", operation_id=operation.id)


@login_required
@require_POST
@service_errors
def dlq_retry_all(request: HtmxHttpRequest) -> HttpResponse:
    return _start(request, None)


@login_required
@require_POST
@service_errors
def dlq_retry_group(request: HtmxHttpRequest, fingerprint: str) -> HttpResponse:
    return _start(request, fingerprint)


@login_required
@require_GET
def operation_detail(request: HtmxHttpRequest, operation_id: uuid.UUID) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    operation = BackgroundOperation.objects.filter(id=operation_id).first()
    if operation is None:
        raise Http404("no such operation")
    response = page(request, "jobs/operation.html", {"operation": operation}, partial="progress")
    if request.htmx and operation.state in (BackgroundOperation.State.DONE, BackgroundOperation.State.FAILED):
        # The DLQ page reloads its entries once the operation has ended.
        trigger_client_event(response, "dlq-changed")
    return response


@login_required
@require_POST
@service_errors
def dlq_clear_view(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.clear_dlq", action="dlq.clear", object_type="dlq")
    data = form_data(ConfirmedReasonForm(request.POST, phrase=DLQ_CLEAR_CONFIRMATION))
    result = dlq_clear(actor=actor, reason=data["reason"])
    return done(
        request, f"Cleared {result['removed']} DLQ entries (export: {result['export']}).", reverse("jobs:dlq-list")
    )


@login_required
@require_POST
@service_errors
def dlq_clean_expired_view(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.clean_dlq", action="dlq.clean_expired", object_type="dlq")
    removed = dlq_clean_expired(actor=actor)
    return done(request, f"Removed {removed} expired DLQ entries.", reverse("jobs:dlq-list"))
