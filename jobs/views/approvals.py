"""The approvals page: waiting and expiring jobs; force check, approve and reject are catalog actions."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.github.links import issue_url
from jobs.github.source import parse_issue_number
from jobs.services.config import config_get
from jobs.views.common import HtmxHttpRequest, page, require_perm


def job_issue_url(issue_id: str) -> str:
    """The web page of the issue a job waits on, on the configured GitHub; "" when it names none here."""
    repo = settings.GITHUB_REPO
    number = parse_issue_number(issue_id, repo) if repo and issue_id else None
    return issue_url(repo, number) if number else ""


@login_required
@require_GET
def approval_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    waiting = list(selectors.waiting_approval_jobs()[:500])
    expiring = {job.id for job in selectors.expiring_jobs(cfg)[:500]}
    for job in waiting:
        job.issue_url = job_issue_url(job.issue_id)
        job.expiring = job.id in expiring
    context = {
        "waiting": waiting,
        "expiring": [job for job in waiting if job.expiring],
        "cfg": cfg,
        "username": request.user.get_username(),
    }
    return page(request, "jobs/approvals.html", context, partial="live")
