"""The audit trail (auditor, admin): filters, CSV export, the chain's verification."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.forms import AuditFilterForm
from jobs.pagination import keyset_page, parse_limit
from jobs.services.audit import audit_verify_since_checkpoint
from jobs.services.audit_export import audit_csv_rows
from jobs.views.common import HtmxHttpRequest, form_data, login_required, page, require_perm, service_errors


def _entries(request: HtmxHttpRequest):
    filters = form_data(AuditFilterForm(request.GET))
    return selectors.audit_entries(
        actor=filters["actor"] or None,
        action=filters["action"] or None,
        object_id=filters["object"] or None,
        since=filters["since"],
        until=filters["until"],
    )


def _audit_page(request: HtmxHttpRequest, *, report=None) -> HttpResponse:
    result = keyset_page(
        _entries(request), cursor=request.GET.get("cursor"), limit=parse_limit(request.GET.get("limit")), fields=("id",)
    )
    context = {
        "form": AuditFilterForm(request.GET),
        "page": result,
        "first_page": not request.GET.get("cursor"),
        "report": report,
    }
    return page(request, "jobs/audit.html", context, partial="results")


@login_required
@require_GET
@service_errors
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_audit")
    return _audit_page(request)


@login_required
@require_GET
@service_errors
def audit_export(request: HtmxHttpRequest) -> StreamingHttpResponse:
    require_perm(request, "jobs.view_audit")
    entries = _entries(request).order_by("id")
    response = StreamingHttpResponse(audit_csv_rows(entries), content_type="text/csv; charset=utf-8")
    name = f"audit-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
@service_errors
def audit_verify_view(request: HtmxHttpRequest) -> HttpResponse:
    """What the chains gained since the last verification, checked; the audit page loads it after its entries.

    The whole trail, from every chain's first entry, is verified by the audit.verify
    action, in the background.
    """
    require_perm(request, "jobs.view_audit")
    report = audit_verify_since_checkpoint()
    if request.htmx:
        return page(request, "jobs/audit.html", {"report": report}, partial="verification")
    return _audit_page(request, report=report)
