"""The approvals page: waiting and expiring jobs, force check, approve and reject."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors
from jobs.forms import OptionalReasonForm, ReasonForm
from jobs.services.approvals import approval_force_check, job_approve, job_reject
from jobs.services.config import config_get
from jobs.views.common import HtmxHttpRequest, acting, done, form_data, page, require_perm, service_errors


def issue_url(issue_id: str) -> str:
    """The issue's web page: github.com, or the Enterprise host of GITHUB_API_URL."""
    repo = settings.GITHUB_REPO
    number = str(issue_id).lstrip("#")
    if not repo or not number.isdigit():
        return ""
    host = urlsplit(settings.GITHUB_API_URL).netloc
    web = "https://github.com" if host in ("", "api.github.com") else f"https://{host}"
    return f"{web}/{repo}/issues/{number}"


@login_required
@require_GET
def approval_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    waiting = list(selectors.waiting_approval_jobs()[:500])
    expiring = {job.id for job in selectors.expiring_jobs(cfg)[:500]}
    for job in waiting:
        job.issue_url = issue_url(job.issue_id)
        job.expiring = job.id in expiring
    context = {
        "waiting": waiting,
        "expiring": [job for job in waiting if job.expiring],
        "cfg": cfg,
        "username": request.user.get_username(),
    }
    return page(request, "jobs/approvals.html", context, partial="live")


@login_required
@require_POST
@service_errors
def job_approve_view(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    actor = acting(request, "jobs.approve_job", action="job.approve", object_type="job", object_ids=[job_id])
    job = job_approve(actor=actor, job_id=job_id, reason=form_data(OptionalReasonForm(request.POST))["reason"])
    return done(request, f"Job {job.id} approved; it is {job.status}.", reverse("jobs:approval-list"))


@login_required
@require_POST
@service_errors
def job_reject_view(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    actor = acting(request, "jobs.approve_job", action="job.reject", object_type="job", object_ids=[job_id])
    job_reject(actor=actor, job_id=job_id, reason=form_data(ReasonForm(request.POST))["reason"])
    return done(request, f"Job {job_id} rejected and canceled.", reverse("jobs:approval-list"))


@login_required
@require_POST
@service_errors
def job_check_approval(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    actor = acting(request, "jobs.check_approval", action="approval.check", object_type="job", object_ids=[job_id])
    result = approval_force_check(actor=actor, job_id=job_id)
    if result["approved"]:
        message = f"Job {job_id}: the issue is approved; the job is queued."
    elif result["expired"]:
        message = f"Job {job_id}: its approval expired; the job failed."
    else:
        message = f"Job {job_id}: not approved yet; expires in {result['expiresInHours']:g} h."
    return done(request, message, reverse("jobs:approval-list"))
