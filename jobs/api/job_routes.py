"""Jobs: list, show, export; submit, cancel, force-fail, approve, reject, check and import are catalog actions."""

from __future__ import annotations

import json
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router

from jobs import selectors
from jobs.actions import inputs
from jobs.api.common import action_route, answer, page_of, params_of, require_perm
from jobs.api.schemas import (
    ApprovalCheckOut,
    ImportOut,
    JobBatchOut,
    JobDetailOut,
    JobListQuery,
    JobOut,
    JobPageOut,
    OperationStartedOut,
    SelectionFrozenOut,
    errors,
)
from jobs.representations import job_detail_to_dict, job_to_dict
from jobs.services.errors import InvalidInput
from jobs.services.export import job_export_rows

router = Router(tags=["jobs"])

JSONL_TYPES = ["application/x-ndjson", "application/jsonl", "text/plain"]
IMPORT_MAX_BYTES = 64 * 1024 * 1024


@action_route(router, "job.submit", response={200: JobOut, 201: JobOut}, codes=(400, 409, 429))
def job_submit(request: HttpRequest, payload: inputs.Submission):
    """Submit a job: 201 the new job, 200 the active job with the same jobKey and params;
    409 when that job has other params (or another entry point)."""
    return answer(request, "job.submit", payload)


@action_route(router, "job.submit_batch", response={201: JobBatchOut}, codes=(400, 429), exclude_none=True)
def job_submit_batch(request: HttpRequest, payload: inputs.SubmissionBatch):
    """Submit up to 1000 jobs in one transaction; one item per job, in order: {job, created} or {error}."""
    return answer(request, "job.submit_batch", payload)


@action_route(router, "jobs.bulk_freeze", response={201: SelectionFrozenOut}, codes=(400, 409))
def job_bulk_freeze(request: HttpRequest, payload: inputs.BulkFreeze):
    """A bulk action's dry run: freeze the jobs a filter (or ids) selects that the action can reach,
    with a breakdown and the effect on the queue. No job changes; 409 when none matches."""
    return answer(request, "jobs.bulk_freeze", payload)


@action_route(router, "jobs.bulk_run", response={202: OperationStartedOut}, codes=(400, 404, 409))
def job_bulk_run(request: HttpRequest, id: UUID, payload: inputs.Reason):
    """Run a frozen selection in the background: exactly its jobs, those ended meanwhile skipped.
    409 when it is another user's, has expired or has already run."""
    return answer(request, "jobs.bulk_run", payload, id)


@router.get("/jobs", response={200: JobPageOut, **errors(400)})
def job_list(request: HttpRequest, query: Query[JobListQuery]):
    """Jobs, newest first, one page at a time (pass nextCursor back as cursor)."""
    require_perm(request)
    queryset = selectors.job_search(
        status=query.status,
        priority=query.priority,
        entrypoint=query.entrypoint,
        q=query.q,
        params=params_of(request, query.params),
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
    rows = job_export_rows(selectors.jobs_for_export())
    response = StreamingHttpResponse(
        (json.dumps(row, cls=DjangoJSONEncoder, separators=(",", ":")) + "\n" for row in rows),
        content_type="application/x-ndjson",
    )
    response["Content-Disposition"] = 'attachment; filename="jobs.jsonl"'
    return response


@action_route(
    router,
    "jobs.import",
    response={200: ImportOut, 202: OperationStartedOut},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "JSONL: one job per line, as GET /api/jobs/export.jsonl writes them",
            "content": {media: {"schema": {"type": "string"}} for media in JSONL_TYPES},
        }
    },
)
def job_import(request: HttpRequest, skipBadLines: bool = False):
    """Import jobs from JSONL (admin). A bad line refuses the whole file unless skipBadLines.

    A body over 2 MiB is imported in the background: 202 with the operation to follow."""
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
    return answer(request, "jobs.import", inputs.JsonlImport(text=text, skipBadLines=skipBadLines))


@router.get("/jobs/{id}", response={200: JobDetailOut, **errors(400, 404)})
def job_detail(request: HttpRequest, id: UUID):
    """One job with its events, oldest first."""
    require_perm(request)
    return job_detail_to_dict(*selectors.job_with_events(id))


@action_route(router, "job.cancel", response={200: JobOut}, codes=(400, 404, 409))
def job_cancel(request: HttpRequest, id: UUID, payload: inputs.Reason):
    """Cancel a queued, waiting or running job; 409 when it has already ended."""
    return answer(request, "job.cancel", payload, id)


@action_route(router, "job.force_fail", response={200: JobOut}, codes=(400, 404, 409))
def job_fail(request: HttpRequest, id: UUID, payload: inputs.Reason):
    """Force-fail an active job (admin); it goes to the DLQ."""
    return answer(request, "job.force_fail", payload, id)


@action_route(router, "job.approve", response={200: JobOut}, codes=(400, 404, 409))
def job_approve(request: HttpRequest, id: UUID, payload: inputs.OptionalReason | None = None):
    """Approve a waiting job (approver; never one's own job). The reason is optional."""
    return answer(request, "job.approve", payload, id)


@action_route(router, "job.reject", response={200: JobOut}, codes=(400, 404, 409))
def job_reject(request: HttpRequest, id: UUID, payload: inputs.Reason):
    """Reject a waiting job: it is canceled (approver; never one's own job)."""
    return answer(request, "job.reject", payload, id)


@action_route(router, "approval.check", response={200: ApprovalCheckOut}, codes=(400, 404, 409, 503))
def job_check_approval(request: HttpRequest, id: UUID):
    """The runbook's forceCheck: expiry first, then the approval label."""
    return answer(request, "approval.check", None, id)
