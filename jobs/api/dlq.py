"""The dead-letter queue and the background operations that retry it."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router

from jobs import selectors
from jobs.actions import inputs
from jobs.api.common import action_route, answer, page_of, params_of, require_perm
from jobs.api.schemas import (
    DiscardedOut,
    DlqListQuery,
    DlqPageOut,
    NewJobOut,
    OperationOut,
    OperationStartedOut,
    RemovedExportOut,
    RemovedOut,
    errors,
)
from jobs.representations import dlq_entry_to_dict, operation_to_dict

router = Router(tags=["dlq"])


@router.get("/dlq", response={200: DlqPageOut, **errors(400)})
def dlq_list(request: HttpRequest, query: Query[DlqListQuery]):
    """DLQ entries, newest first; count is the number of entries matching the filter."""
    require_perm(request)
    params = params_of(request, query.params)
    entries = selectors.dlq_entries(reason=query.reason, params=params)
    page = page_of(entries, cursor=query.cursor, limit=query.limit, fields=("added_at", "job"))
    count, capped = selectors.dlq_count_capped(reason=query.reason, params=params)
    return {
        "items": [dlq_entry_to_dict(entry) for entry in page.items],
        "nextCursor": page.next_cursor,
        "count": count,
        "countCapped": capped,
    }


@action_route(router, "dlq.retry", response={201: NewJobOut}, codes=(400, 404, 409, 429))
def dlq_retry(request: HttpRequest, jobId: UUID, payload: inputs.OptionalReason | None = None):
    """Retry one entry as a new job linked to the old one (runbook: retryFromDLQ)."""
    return answer(request, "dlq.retry", payload, jobId)


@action_route(router, "dlq.retry_edited", response={201: NewJobOut}, codes=(400, 404, 409, 429))
def dlq_retry_edited(request: HttpRequest, jobId: UUID, payload: inputs.EditedRetry):
    """Retry one entry as a new job with edited params; the old job keeps its own, the audit entry the diff."""
    return answer(request, "dlq.retry_edited", payload, jobId)


@action_route(router, "dlq.retry_all", response={202: OperationStartedOut}, codes=(400, 429))
def dlq_retry_all(request: HttpRequest, payload: inputs.OptionalReason | None = None):
    """Retry every entry present now, in the background: 202 with the operation to follow."""
    return answer(request, "dlq.retry_all", payload)


@action_route(router, "dlq.clear", response={200: RemovedExportOut})
def dlq_clear(request: HttpRequest, payload: inputs.Confirmed):
    """Take every entry out of the DLQ (admin), after a JSONL export; the jobs stay failed."""
    return answer(request, "dlq.clear", payload)


@action_route(router, "dlq.discard", response={200: DiscardedOut}, codes=(400, 404))
def dlq_discard(request: HttpRequest, jobId: UUID, payload: inputs.Reason):
    """Take one entry out of the DLQ without retrying it; the job stays failed."""
    return answer(request, "dlq.discard", payload, jobId)


@action_route(router, "dlq.clean_expired", response={200: RemovedOut}, codes=())
def dlq_clean_expired(request: HttpRequest):
    """Remove entries older than dlq.retentionDays (runbook: cleanExpiredDLQ)."""
    return answer(request, "dlq.clean_expired")


@router.get("/operations/{id}", response={200: OperationOut, **errors(400, 404)})
def operation_detail(request: HttpRequest, id: UUID):
    """Progress of a background operation (retry all): `waitingForRoom` and `progress` say
    when it waits for room below the backpressure threshold."""
    require_perm(request)
    return operation_to_dict(selectors.operation(id))


@action_route(router, "operation.cancel", response={200: OperationOut}, codes=(400, 404, 409))
def operation_cancel(request: HttpRequest, id: UUID, payload: inputs.Reason):
    """Stop a retry-all: at once while no worker holds it, else after the batch under way.
    What it retried stays retried; 409 once it has ended."""
    return answer(request, "operation.cancel", payload, id)
