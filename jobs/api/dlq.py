"""The dead-letter queue and the background operations that retry it."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status

from jobs import selectors
from jobs.api.common import actor, page_of, require_perm
from jobs.api.schemas import (
    DlqListQuery,
    DlqPageOut,
    NewJobOut,
    OperationOut,
    OperationStartedOut,
    OptionalReasonIn,
    ReasonIn,
    RemovedExportOut,
    RemovedOut,
    RetriedOut,
    errors,
)
from jobs.models import BackgroundOperation, DLQEntry
from jobs.representations import dlq_entry_to_dict, job_to_dict
from jobs.services import dlq, operations
from jobs.services.errors import NotFound

router = Router(tags=["dlq"])

# Up to this many entries retry-all answers at once; beyond, a worker does it with progress.
SYNC_RETRY_LIMIT = 100


@router.get("/dlq", response={200: DlqPageOut, **errors(400)})
def dlq_list(request: HttpRequest, query: Query[DlqListQuery]):
    """DLQ entries, newest first; count is the number of entries matching the filter."""
    require_perm(request)
    entries = selectors.dlq_entries(reason=query.reason)
    page = page_of(entries, cursor=query.cursor, limit=query.limit, fields=("added_at", "job"))
    return {
        "items": [dlq_entry_to_dict(entry) for entry in page.items],
        "nextCursor": page.next_cursor,
        "count": entries.count(),
    }


@router.post("/dlq/{jobId}/retry", response={201: NewJobOut, **errors(400, 404, 409, 429)})
def dlq_retry(request: HttpRequest, jobId: UUID):
    """Retry one entry as a new job linked to the old one (runbook: retryFromDLQ)."""
    new = dlq.dlq_retry(actor=actor(request), job_id=jobId)
    return Status(201, {"job": job_to_dict(new)})


@router.post("/dlq/retry-all", response={200: RetriedOut, 202: OperationStartedOut, **errors(400, 429)})
def dlq_retry_all(request: HttpRequest, payload: OptionalReasonIn | None = None):
    """Retry every entry: at once when there are at most 100, else in the background (202)."""
    reason = payload.reason if payload else ""
    ids = list(DLQEntry.objects.order_by("added_at", "job_id").values_list("job_id", flat=True)[: SYNC_RETRY_LIMIT + 1])
    if len(ids) <= SYNC_RETRY_LIMIT:
        return {"retried": len(dlq.dlq_retry_batch(actor=actor(request), job_ids=ids, reason=reason))}
    operation = operations.dlq_retry_all_start(actor=actor(request), reason=reason)
    return Status(202, {"operation": operation_to_dict(operation)})


@router.post("/dlq/clear", response={200: RemovedExportOut, **errors(400)})
def dlq_clear(request: HttpRequest, payload: ReasonIn):
    """Take every entry out of the DLQ (admin), after a JSONL export; the jobs stay failed."""
    outcome = dlq.dlq_clear(actor=actor(request), reason=payload.reason)
    return {"removed": outcome["removed"], "export": outcome["export"]}


@router.post("/dlq/clean-expired", response={200: RemovedOut, **errors()})
def dlq_clean_expired(request: HttpRequest):
    """Remove entries older than dlq.retentionDays (runbook: cleanExpiredDLQ)."""
    return {"removed": dlq.dlq_clean_expired(actor=actor(request))}


@router.get("/operations/{id}", response={200: OperationOut, **errors(400, 404)})
def operation_detail(request: HttpRequest, id: UUID):
    """Progress of a background operation (retry all)."""
    require_perm(request)
    operation = BackgroundOperation.objects.filter(id=id).first()
    if operation is None:
        raise NotFound(f"operation {id} not found")
    return operation_to_dict(operation)


def operation_to_dict(operation: BackgroundOperation) -> dict:
    return {
        "id": operation.id,
        "kind": operation.kind,
        "state": operation.state,
        "total": operation.total,
        "done": operation.done,
        "percent": operation.percent,
        "result": operation.result,
        "error": operation.error,
        "requestedBy": operation.requested_by,
        "createdAt": operation.created_at,
        "updatedAt": operation.updated_at,
    }
