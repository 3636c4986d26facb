"""Bulk actions on a filter: the Jobs page's form freezes a selection (jobs.bulk_freeze), its dry-run page
shows what it would hit and runs it (jobs.bulk_run, a catalog action with a door of its own in urls)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from jobs.actions.perform import perform
from jobs.representations import selection_breakdown
from jobs.selectors.bulk import bulk_selection
from jobs.services.audit import Actor
from jobs.services.errors import NotFound
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, sentence, service_errors

FILTER_FIELDS = ("status", "priority", "entrypoint", "q", "params")


@login_required
@require_POST
@service_errors
def bulk_freeze_view(request: HtmxHttpRequest) -> HttpResponse:
    """Freeze the picked jobs ("selected"), or every one the page's filter matches ("all"), for one action."""

    def received() -> dict[str, object]:
        post = request.POST
        data: dict[str, object] = {"action": post.get("action", "")}
        if post.get("scope") == "all" or "filter" in post:
            data["filter"] = post.get("filter") or {name: post.get(name, "") for name in FILTER_FIELDS}
        else:
            data["ids"] = post.getlist("ids")
        return data

    outcome = perform("jobs.bulk_freeze", Actor.for_request(request), received, door="console")
    messages.success(request, sentence(outcome.message))
    return redirect("jobs:bulk-detail", selection_id=outcome.data["selection"]["id"])


@login_required
@require_GET
def bulk_detail(request: HtmxHttpRequest, selection_id: uuid.UUID) -> HttpResponse:
    """A dry run: the frozen count, its breakdown, the effect on the queue, and Run (with a typed reason)."""
    require_perm(request, "jobs.view_console")
    try:
        selection = bulk_selection(selection_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    context = {
        "selection": selection,
        "breakdown": selection_breakdown(selection.breakdown),
        "may_run": request.user.has_perm(f"jobs.{_PERMISSION[selection.action]}")
        and selection.created_by == request.user.get_username(),
    }
    return page(request, "jobs/bulk_selection.html", context, partial="selection")


_PERMISSION = {"cancel": "cancel_job", "retry": "retry_job", "force_fail": "force_fail_job"}
