"""The Jobs page (filters, keyset pages) and one job's page; their buttons are catalog actions."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.forms import JobFilterForm
from jobs.pagination import keyset_page, parse_limit
from jobs.selectors.bulk import matching_count
from jobs.services.errors import NotFound
from jobs.views.common import HtmxHttpRequest, form_data, login_required, page, require_perm, service_errors

MATCHING_CAP = 10_000


@login_required
@require_GET
@service_errors
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    filters = form_data(JobFilterForm(request.GET))
    jobs = selectors.job_search(**{k: v or None for k, v in filters.items()})
    result = keyset_page(jobs, cursor=request.GET.get("cursor"), limit=parse_limit(request.GET.get("limit")))
    first_page = not request.GET.get("cursor")
    # "All N matching this filter" beside the checkboxes: a first page that is the whole
    # list counts itself; otherwise counted no further than the cap.
    matching = 0
    if request.user.has_perm("jobs.cancel_job"):
        whole = first_page and not result.next_cursor
        matching = len(result.items) if whole else matching_count(jobs, MATCHING_CAP + 1)
    context = {
        "form": JobFilterForm(request.GET),
        "page": result,
        "filtered": any(filters.values()),
        "first_page": first_page,
        "matching": matching,
        "matching_cap": MATCHING_CAP,
        **_paused(),
    }
    return page(request, "jobs/job_list.html", context, partial="results")


@login_required
@require_GET
def job_detail(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    try:
        job, events = selectors.job_with_events(job_id, limit=500)
    except NotFound as exc:
        raise Http404(exc.message) from None
    context = {
        "job": job,
        "events": events,
        "attempts": selectors.job_attempts(events),
        "retries": list(job.retries.order_by("created_at")),
        "dlq_entry": selectors.dlq_entry_of(job.id),
        "own_job": request.user.get_username() in {job.submitted_by, job.imported_by},
        **_paused(),
    }
    return page(request, "jobs/job_detail.html", context, partial="live")


def _paused() -> dict[str, set]:
    """What _status.html needs to mark a queued job whose entry point or priority is paused."""
    entrypoints, priorities = selectors.paused_names()
    return {"paused_entrypoints": entrypoints, "paused_priorities": priorities}
