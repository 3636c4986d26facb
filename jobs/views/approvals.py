"""The approvals page: waiting and expiring jobs; force check, approve and reject are catalog actions."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.github.links import issue_url
from jobs.github.source import parse_issue_number
from jobs.pagination import keyset_page, parse_limit
from jobs.services.config import config_get
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm, service_errors


def job_issue_url(issue_id: str) -> str:
    """The web page of the issue a job waits on, on the configured GitHub; "" when it names none here."""
    repo = settings.JOBS_GITHUB_REPO
    number = parse_issue_number(issue_id, repo) if repo and issue_id else None
    return issue_url(repo, number) if number else ""


# Rows in the banner that names the jobs about to expire; the rest are counted.
EXPIRING_NAMED = 10


@login_required
@require_GET
@service_errors
def approval_list(request: HtmxHttpRequest) -> HttpResponse:
    """One page of waiting jobs, soonest expiry first; the counts come from the running tallies."""
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    waiting = keyset_page(
        selectors.waiting_with_expiry_flag(cfg),
        cursor=request.GET.get("cursor"),
        limit=parse_limit(request.GET.get("limit")),
        fields=("approval_expires_at", "id"),
        descending=False,
    )
    for job in waiting.items:
        job.issue_url = job_issue_url(job.issue_id)
    expiring, expiring_total = selectors.expiring_named(cfg, EXPIRING_NAMED)
    context = {
        "page": waiting,
        "waiting_total": selectors.store_stats()["waiting_approval"],
        "expiring": expiring,
        "expiring_total": expiring_total,
        "expiring_more": expiring_total - len(expiring),
        "first_page": not request.GET.get("cursor"),
        "cfg": cfg,
        "username": request.user.get_username(),
    }
    return page(request, "jobs/approvals.html", context, partial="live")
