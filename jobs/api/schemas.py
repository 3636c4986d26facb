"""Request and response shapes, field for field as API.md names them (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema

from jobs.actions.fields import Text, Time
from jobs.actions.inputs import PriorityName, StatusName
from jobs.jobsconfig import JobsSettings


class ErrorOut(Schema):
    error: str
    detail: Any = None


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """The error answers an operation can give, for a truthful OpenAPI document."""
    return dict.fromkeys((401, 403, *codes), ErrorOut)


# Jobs


class JobOut(Schema):
    id: UUID
    jobKey: str
    entrypoint: str
    params: dict[str, Any]
    priority: PriorityName
    status: StatusName
    attempts: int
    maxAttempts: int
    lastError: str | None
    result: Any = None
    issueId: str | None
    approvalExpiresAt: datetime | None
    createdAt: datetime
    updatedAt: datetime
    startedAt: datetime | None
    completedAt: datetime | None
    retriedFrom: UUID | None
    submittedBy: str | None
    statusReason: str | None = None
    approvedBy: str | None = None


class EventOut(Schema):
    id: int
    type: str
    jobId: UUID | None
    data: dict[str, Any]
    createdAt: datetime


class AttemptOut(Schema):
    attempt: int
    worker: str | None
    startedAt: datetime
    endedAt: datetime | None
    outcome: str = Field(description="succeeded, retrying, failed, waiting_approval, canceled, or running")
    error: str | None
    exception: str | None = Field(description="the exception's class, module.qualname")
    traceback: str | None


class JobDetailOut(JobOut):
    events: list[EventOut]
    attemptHistory: list[AttemptOut] = Field(
        description="every run of the entry point, oldest first (attempts stays the count)"
    )


class JobPageOut(Schema):
    items: list[JobOut]
    nextCursor: str | None


class JobBatchItemOut(Schema):
    job: JobOut | None = None
    created: bool | None = None
    error: ErrorOut | None = None


class JobBatchOut(Schema):
    items: list[JobBatchItemOut]


class ApprovalCheckOut(Schema):
    approved: bool
    expired: bool
    expiresInHours: float | None


class ItemsOut(Schema):
    items: list[JobOut]


class ImportLineOut(Schema):
    line: int
    error: str


class ImportOut(Schema):
    imported: int
    # Jobs that were running when exported: imported failed, into the DLQ, never started again.
    interrupted: int
    duplicates: int
    skipped: list[ImportLineOut]


# Queue, store, health


class StoreStatsOut(Schema):
    queued: int
    running: int
    waiting_approval: int
    succeeded: int
    failed: int
    canceled: int
    total: int


class QueueStatsOut(Schema):
    queued: int
    running: int
    stopping: int  # slots held by jobs that ended while their code is still being stopped
    dlq: int
    backpressureActive: bool
    utilizationPercent: float
    maxConcurrent: int
    maxQueueSize: int
    backpressureThreshold: int


class WorkerStatsOut(Schema):
    running: bool
    enabled: bool
    workers: int
    slots: int = Field(description="jobs the live workers can run at once (each process's concurrency, summed)")
    stopping: int
    currentJob: UUID | None
    currentJobs: list[UUID]
    processed: int
    succeeded: int
    failed: int
    uptimeMs: int


class HealthJobsOut(Schema):
    store: StoreStatsOut
    queue: QueueStatsOut
    worker: WorkerStatsOut


class HealthDataOut(Schema):
    jobs: HealthJobsOut


class HealthOut(Schema):
    status: Literal["healthy", "degraded"]
    issues: list[str]
    data: HealthDataOut


class CanceledOut(Schema):
    canceled: int


class PauseOut(Schema):
    entrypoint: str | None
    priority: PriorityName | None
    what: str = Field(description='"demo.sleep" or "low priority"')
    reason: str
    pausedBy: str
    pausedAt: datetime
    queued: int | None = Field(description="queued jobs it holds back, counted up to 10,000")


class PausedOut(Schema):
    paused: PauseOut


class ResumedOut(Schema):
    resumed: str
    queued: int


class PausePageOut(Schema):
    items: list[PauseOut]


class FailedOut(Schema):
    failed: int


class RemovedOut(Schema):
    removed: int


class DiscardedOut(Schema):
    discarded: UUID = Field(description="the job whose DLQ entry was discarded; the job stays failed")


class RemovedExportOut(RemovedOut):
    export: str = Field(description="the JSONL export written before removing, on the server")


# DLQ and background operations


class DlqEntryOut(Schema):
    job: JobOut
    reason: str
    addedAt: datetime
    attempts: int
    lastError: str | None
    fingerprint: str


class DlqPageOut(Schema):
    items: list[DlqEntryOut]
    nextCursor: str | None
    count: int
    countCapped: bool = Field(
        description="true when a params filter matches more entries than count, which stops at 1,000"
    )


class NewJobOut(Schema):
    job: JobOut


class RetriedOut(Schema):
    retried: int


class OperationOut(Schema):
    id: UUID
    kind: str
    # waiting: no worker holds it; it waits for room below the backpressure threshold
    state: Literal["pending", "running", "waiting", "done", "failed", "canceled"]
    total: int
    done: int
    percent: int
    result: dict[str, Any]
    error: str
    requestedBy: str
    createdAt: datetime
    updatedAt: datetime
    waitingForRoom: bool
    progress: str
    cancelable: bool
    cancelRequested: bool
    canceledBy: str
    cancelReason: str


class OperationStartedOut(Schema):
    operation: OperationOut


class EntrypointCountOut(Schema):
    entrypoint: str
    count: int


class StatusCountOut(Schema):
    status: str
    count: int


class FingerprintCountOut(Schema):
    fingerprint: str | None = Field(description="the DLQ error group; null for jobs not in the DLQ")
    count: int


class SelectionBreakdownOut(Schema):
    byEntrypoint: list[EntrypointCountOut]
    byStatus: list[StatusCountOut]
    byFingerprint: list[FingerprintCountOut]


class SelectionOut(Schema):
    """A bulk action's dry run: the frozen jobs, counted, and what running it would do to the queue."""

    id: UUID
    action: Literal["cancel", "retry", "force_fail"]
    state: str = Field(description="frozen, expired (not run in time) or started (see operation)")
    createdBy: str
    createdAt: datetime
    expiresAt: datetime
    filter: dict[str, Any] = Field(description='the filter it froze, or {"ids": n} for picked jobs')
    count: int
    breakdown: SelectionBreakdownOut
    effect: dict[str, Any] = Field(
        description="retry: newQueued, fitNow (below the pace), waitForRoom; cancel and force_fail: "
        "freedQueued, freedRunning, freedWaiting, queuedAfter, backpressureAfter"
    )
    operation: UUID | None
    reason: str


class SelectionFrozenOut(Schema):
    selection: SelectionOut


class ActionRequestOut(Schema):
    """A destructive action waiting for a second admin (four eyes), or what came of it."""

    id: UUID
    action: str
    target: str | None
    reason: str
    requestedBy: str
    requestedVia: str
    createdAt: datetime
    expiresAt: datetime
    state: str = Field(description="pending, confirmed, failed, rejected or expired")
    decidedBy: str | None
    decidedAt: datetime | None
    message: str | None = Field(description="what the confirmed action did, or why it refused")


class RequestStartedOut(Schema):
    request: ActionRequestOut


class ActionRequestPageOut(Schema):
    items: list[ActionRequestOut]


# Workers


class WorkerOut(Schema):
    name: str
    running: bool
    currentJob: UUID | None
    processed: int
    succeeded: int
    failed: int
    uptimeMs: int
    lastSeen: datetime


class WorkersOut(Schema):
    items: list[WorkerOut]


class EnabledOut(Schema):
    enabled: bool


class EventPageOut(Schema):
    items: list[EventOut]
    nextCursor: str | None


class AuditEntryOut(Schema):
    id: int
    createdAt: datetime
    actor: str
    source: str
    action: str
    outcome: Literal["ok", "denied"]
    objectType: str
    objectIds: list[str]
    reason: str
    before: Any = None
    after: Any = None
    ip: str
    userAgent: str
    hash: str


class AuditPageOut(Schema):
    items: list[AuditEntryOut]
    nextCursor: str | None


# Configuration: the jobs.json shape. Ranges are checked again by jobs.jsonconfig.


# The effective jobs.json: its shape is jobsconfig's own.
ConfigOut = JobsSettings


# Query strings


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, max_length=500, description="nextCursor of the previous page")


class JobListQuery(PageQuery):
    status: StatusName | None = None
    priority: PriorityName | None = None
    entrypoint: Text | None = Field(None, max_length=200)
    q: Text | None = Field(None, max_length=255, description="an id, a jobKey prefix or text of lastError")
    params: Text | None = Field(
        None,
        max_length=1000,
        description="jobs whose params hold this: a JSON object, or path=value terms separated by commas "
        "(region=eu,customer.tier=gold); repeatable params.<path>=value query keys add terms",
    )


class DlqListQuery(PageQuery):
    reason: Text | None = Field(None, max_length=500, description="entries whose reason contains this")
    params: Text | None = Field(
        None,
        max_length=1000,
        description="entries whose job's params hold this: a JSON object, or path=value terms separated by commas "
        "(region=eu,customer.tier=gold); repeatable params.<path>=value query keys add terms",
    )


class EventListQuery(PageQuery):
    limit: int = Field(100, ge=1, le=500)
    after: int | None = Field(None, ge=0, le=2**63 - 1, description="events after this id, oldest first")
    type: Text | None = Field(None, max_length=40)


class AuditQuery(Schema):
    actor: Text | None = Field(None, max_length=200)
    action: Text | None = Field(None, max_length=60)
    since: Time | None = None
    until: Time | None = None


class AuditListQuery(AuditQuery, PageQuery):
    pass
