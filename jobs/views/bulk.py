"""Bulk actions on a filter: the Jobs page's form freezes a selection (jobs.bulk_freeze, a door of its own:
it answers the dry-run page), and that page shows what a run would hit, with the form of jobs.bulk_run
(the catalog's generic door, which then shows the operation's progress)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from jobs.actions.perform import perform
from jobs.representations import selection_breakdown
from jobs.selectors.bulk import bulk_selection
from jobs.services.audit import Actor
from jobs.services.bulk import FILTER_FIELDS, PERMISSIONS
from jobs.services.errors import NotFound
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, sentence, service_errors


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
        "filter_terms": filter_terms(selection.filter),
        "breakdown": selection_breakdown(selection.breakdown),
        "may_run": request.user.has_perm(PERMISSIONS[selection.action])
        and selection.created_by == request.user.get_username(),
    }
    return page(request, "jobs/bulk_selection.html", context, partial="selection")


def filter_terms(described: dict[str, Any]) -> list[str]:
    """A frozen filter as the Jobs page's fields read: ``status=queued``, params as ``region=eu`` paths."""
    terms = []
    # In the Jobs page's order (the stored JSON keeps its keys in its own order).
    ordered = sorted(
        described.items(), key=lambda item: FILTER_FIELDS.index(item[0]) if item[0] in FILTER_FIELDS else 9
    )
    for name, value in ordered:
        if name == "params" and isinstance(value, dict):
            terms += [f"params.{path}={json.dumps(leaf)}" for path, leaf in _leaves(value)]
        else:
            terms.append(f"{name}={value}")
    return terms


def _leaves(document: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for key, value in document.items():
        path = f"{prefix}{key}"
        found += _leaves(value, f"{path}.") if isinstance(value, dict) and value else [(path, value)]
    return found
