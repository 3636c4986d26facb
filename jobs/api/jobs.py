"""Jobs: submit, list, show, cancel, force-fail, approve / reject, force check, JSONL."""

from __future__ import annotations

import json
from uuid import UUID

import pydantic
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router
from ninja.responses import Status

from jobs import selectors
from jobs.api.common import actor, page_of, require_perm
from jobs.api.errors import describe_invalid
from jobs.api.schemas import (
    ApprovalCheckOut,
    ImportOut,
    JobBatchIn,
    JobBatchOut,
    JobDetailOut,
    JobListQuery,
    JobOut,
    JobPageOut,
    JobSubmitIn,
    OptionalReasonIn,
    ReasonIn,
    errors,
)
from jobs.models import Event, Job
from jobs.representations import event_to_dict, job_to_dict
from jobs.services import approvals, jobs
from jobs.services.errors import InvalidInput, NotFound
from jobs.services.export import job_export_rows

router = Router(tags=["jobs"])

JSONL_TYPES = ["application/x-ndjson", "application/jsonl", "text/plain"]
IMPORT_MAX_BYTES = 64 * 1024 * 1024


@router.post("/jobs", response={200: JobOut, 201: JobOut, **errors(400, 429)})
def job_submit(request: HttpRequest, payload: JobSubmitIn):
    """Submit a job: 201 the new job, 200 the active job with the same jobKey."""
    job, created = jobs.job_submit(
        actor=actor(request),
        entrypoint=payload.entrypoint,
        params=payload.params,
        priority=payload.priority,
        max_attempts=payload.maxAttempts,
        issue_id=payload.issueId,
        job_key=payload.jobKey,
    )
    return Status(201 if created else 200, job_to_dict(job))


@router.post("/jobs/batch", response={201: JobBatchOut, **errors(400, 429)}, exclude_none=True)
def job_submit_batch(request: HttpRequest, payload: JobBatchIn):
    """Submit up to 1000 jobs in one transaction; one item per job, in order: {job, created} or {error}."""
    submissions: list[dict | None] = []
    invalid: dict[int, dict] = {}
    for n, item in enumerate(payload.jobs):
        try:
            submission = JobSubmitIn.model_validate(item)
        except pydantic.ValidationError as exc:
            invalid[n] = describe_invalid(exc.errors(include_url=False))
            continue
        submissions.append(_submission_fields(submission))
    results = jobs.job_submit_many(actor=actor(request), submissions=submissions) if submissions else []
    answers = iter(results)
    items = [{"error": invalid[n]} if n in invalid else _batch_item(next(answers)) for n in range(len(payload.jobs))]
    return Status(201, {"items": items})


def _submission_fields(submission: JobSubmitIn) -> dict:
    return {
        "entrypoint": submission.entrypoint,
        "params": submission.params,
        "priority": submission.priority,
        "max_attempts": submission.maxAttempts,
        "issue_id": submission.issueId,
        "job_key": submission.jobKey,
    }


def _batch_item(result: dict) -> dict:
    if "error" in result:
        return result
    return {"job": job_to_dict(result["job"]), "created": result["created"]}


@router.get("/jobs", response={200: JobPageOut, **errors(400)})
def job_list(request: HttpRequest, query: Query[JobListQuery]):
    """Jobs, newest first, one page at a time (pass nextCursor back as cursor)."""
    require_perm(request)
    queryset = selectors.job_search(
        status=query.status, priority=query.priority, entrypoint=query.entrypoint, q=query.q
    )
    page = page_of(queryset, cursor=query.cursor, limit=query.limit, fields=("created_at", "id"))
    return {"items": [job_to_dict(job) for job in page.items], "nextCursor": page.next_cursor}


@router.get(
    "/jobs/export.jsonl",
    response={200: None, **errors()},
    openapi_extra={
        "responses": {
            200: {
                "description": "One job per line in the runbook's field names",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    },
)
def job_export(request: HttpRequest):
    """Every job as JSONL, oldest first, streamed (the import takes this file back)."""
    require_perm(request)
    rows = job_export_rows(Job.objects.order_by("created_at", "id").select_related("dlq_entry"))
    response = StreamingHttpResponse(
        (json.dumps(row, cls=DjangoJSONEncoder, separators=(",", ":")) + "\n" for row in rows),
        content_type="application/x-ndjson",
    )
    response["Content-Disposition"] = 'attachment; filename="jobs.jsonl"'
    return response


@router.post(
    "/jobs/import",
    response={200: ImportOut, **errors(400)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "JSONL: one job per line, as GET /api/jobs/export.jsonl writes them",
            "content": {media: {"schema": {"type": "string"}} for media in JSONL_TYPES},
        }
    },
)
def job_import(request: HttpRequest, skipBadLines: bool = False):
    """Import jobs from JSONL (admin). A bad line refuses the whole file unless skipBadLines."""
    from jobs.services.jsonl import jsonl_import

    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > IMPORT_MAX_BYTES:
        raise InvalidInput(f"body: at most {IMPORT_MAX_BYTES} bytes")
    try:
        text = request.read(IMPORT_MAX_BYTES + 1).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"body: not UTF-8 text (byte {exc.start})") from None
    if len(text) > IMPORT_MAX_BYTES:
        raise InvalidInput(f"body: at most {IMPORT_MAX_BYTES} bytes")
    if not text.strip():
        raise InvalidInput("body: required (JSONL, one job per line)")
    report = jsonl_import(actor=actor(request), text=text, skip_bad_lines=skipBadLines)
    return {
        "imported": report["imported"],
        "duplicates": report["duplicates"],
        "skipped": [{"line": line, "error": error} for line, error in report["skipped"]],
    }


def _job(id: UUID) -> Job:
    job = Job.objects.filter(id=id).first()
    if job is None:
        raise NotFound(f"job {id} not found")
    return job


@router.get("/jobs/{id}", response={200: JobDetailOut, **errors(400, 404)})
def job_detail(request: HttpRequest, id: UUID):
    """One job with its events, oldest first."""
    require_perm(request)
    job = _job(id)
    data = job_to_dict(job)
    data["events"] = [event_to_dict(event) for event in Event.objects.filter(job_id=job.id).order_by("id")]
    return data


@router.post("/jobs/{id}/cancel", response={200: JobOut, **errors(400, 404, 409)})
def job_cancel(request: HttpRequest, id: UUID, payload: ReasonIn):
    """Cancel a queued, waiting or running job; 409 when it has already ended."""
    return job_to_dict(jobs.job_cancel(actor=actor(request), job_id=id, reason=payload.reason))


@router.post("/jobs/{id}/fail", response={200: JobOut, **errors(400, 404, 409)})
def job_fail(request: HttpRequest, id: UUID, payload: ReasonIn):
    """Force-fail an active job (admin); it goes to the DLQ."""
    return job_to_dict(jobs.job_force_fail(actor=actor(request), job_id=id, reason=payload.reason))


@router.post("/jobs/{id}/approve", response={200: JobOut, **errors(400, 404, 409)})
def job_approve(request: HttpRequest, id: UUID, payload: OptionalReasonIn | None = None):
    """Approve a waiting job (approver; never one's own job). The reason is optional."""
    reason = payload.reason if payload else ""
    return job_to_dict(approvals.job_approve(actor=actor(request), job_id=id, reason=reason))


@router.post("/jobs/{id}/reject", response={200: JobOut, **errors(400, 404, 409)})
def job_reject(request: HttpRequest, id: UUID, payload: ReasonIn):
    """Reject a waiting job: it is canceled (approver; never one's own job)."""
    return job_to_dict(approvals.job_reject(actor=actor(request), job_id=id, reason=payload.reason))


@router.post("/jobs/{id}/check-approval", response={200: ApprovalCheckOut, **errors(400, 404, 409, 503)})
def job_check_approval(request: HttpRequest, id: UUID):
    """The runbook's forceCheck: expiry first, then the approval label."""
    return approvals.approval_force_check(actor=actor(request), job_id=id)
