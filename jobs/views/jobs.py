"""The Jobs page (filters, keyset pages, bulk cancel) and one job's page and actions."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors
from jobs.forms import BulkCancelForm, JobFilterForm, ReasonForm
from jobs.models import DLQEntry, Event, Job
from jobs.pagination import keyset_page, parse_limit
from jobs.services.jobs import job_cancel, job_force_fail, jobs_cancel
from jobs.views.common import HtmxHttpRequest, acting, done, form_data, page, require_perm, service_errors


def get_job(job_id: uuid.UUID) -> Job:
    """The job, or 404."""
    job = Job.objects.select_related("retried_from").filter(id=job_id).first()
    if job is None:
        raise Http404(f"job {job_id} not found")
    return job


@login_required
@require_GET
@service_errors
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    filters = form_data(JobFilterForm(request.GET))
    jobs = selectors.job_search(**{k: v or None for k, v in filters.items()})
    result = keyset_page(jobs, cursor=request.GET.get("cursor"), limit=parse_limit(request.GET.get("limit")))
    context = {
        "form": JobFilterForm(request.GET),
        "page": result,
        "filtered": any(filters.values()),
        "first_page": not request.GET.get("cursor"),
    }
    return page(request, "jobs/job_list.html", context, partial="results")


@login_required
@require_POST
@service_errors
def jobs_cancel_selected(request: HtmxHttpRequest) -> HttpResponse:
    actor = acting(request, "jobs.cancel_job", action="jobs.cancel", object_type="job")
    data = form_data(BulkCancelForm(request.POST))
    canceled = jobs_cancel(actor=actor, job_ids=data["ids"], reason=data["reason"])
    skipped = len(data["ids"]) - len(canceled)
    note = f" ({skipped} had already ended)" if skipped else ""
    return done(request, f"Canceled {len(canceled)} job(s){note}.", reverse("jobs:job-list"))


@login_required
@require_GET
def job_detail(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    job = get_job(job_id)
    events = list(Event.objects.filter(job_id=job.id).order_by("id")[:500])
    attempts = [e for e in events if e.type == "job:started"]
    context = {
        "job": job,
        "events": events,
        "attempts": attempts,
        "retries": list(job.retries.order_by("created_at")),
        "dlq_entry": DLQEntry.objects.filter(job=job).first(),
        "own_job": job.submitted_by == request.user.get_username(),
    }
    return page(request, "jobs/job_detail.html", context, partial="live")


@login_required
@require_POST
@service_errors
def job_cancel_view(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    actor = acting(request, "jobs.cancel_job", action="job.cancel", object_type="job", object_ids=[job_id])
    data = form_data(ReasonForm(request.POST))
    job_cancel(actor=actor, job_id=job_id, reason=data["reason"])
    return done(request, "Job canceled.", reverse("jobs:job-detail", args=[job_id]))


@login_required
@require_POST
@service_errors
def job_force_fail_view(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    actor = acting(request, "jobs.force_fail_job", action="job.force_fail", object_type="job", object_ids=[job_id])
    data = form_data(ReasonForm(request.POST))
    job_force_fail(actor=actor, job_id=job_id, reason=data["reason"])
    return done(request, "Job force-failed; it is in the DLQ.", reverse("jobs:job-detail", args=[job_id]))
