"""Jobs and DLQ entries in the runbook's JSON shape (camelCase, ISO 8601 times).

One shape for the API, the JSONL store format, exports and audit snapshots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobs.models import AuditEntry, DLQEntry, Event, Job
from jobs.selectors.attempts import Attempt, job_attempts


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_to_dict(job: Job) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "jobKey": job.job_key,
        "entrypoint": job.entrypoint,
        "params": job.params,
        "priority": job.priority_label,
        "status": job.status,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "lastError": job.last_error or None,
        "result": job.result,
        "issueId": job.issue_id or None,
        "approvalExpiresAt": iso(job.approval_expires_at),
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "retriedFrom": str(job.retried_from_id) if job.retried_from_id else None,
        "submittedBy": job.submitted_by or None,
        "statusReason": job.status_reason or None,
        "approvedBy": job.approved_by or None,
    }


def job_detail_to_dict(job: Job, events) -> dict[str, Any]:
    """A job with its events and its attempts, oldest first: GET /api/jobs/{id} and `jobs show`."""
    return {
        **job_to_dict(job),
        "events": [event_to_dict(event) for event in events],
        "attemptHistory": [attempt_to_dict(attempt) for attempt in job_attempts(events)],
    }


def attempt_to_dict(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt": attempt.number,
        "worker": attempt.worker or None,
        "startedAt": iso(attempt.started_at),
        "endedAt": iso(attempt.ended_at),
        "outcome": attempt.outcome,
        "error": attempt.error or None,
        "exception": attempt.exception or None,
        "traceback": attempt.traceback or None,
    }


def dlq_entry_to_dict(entry: DLQEntry) -> dict[str, Any]:
    return {
        "job": job_to_dict(entry.job),
        "reason": entry.reason,
        "addedAt": iso(entry.added_at),
        "attempts": entry.attempts,
        "lastError": entry.last_error or None,
        "fingerprint": entry.fingerprint,
    }


def event_to_dict(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "jobId": str(event.job_id) if event.job_id else None,
        "data": event.data,
        "createdAt": iso(event.created_at),
    }


def job_snapshot(job: Job) -> dict[str, Any]:
    """The few fields an audit entry keeps as before/after."""
    return {"status": job.status, "attempts": job.attempts, "lastError": job.last_error or None}


def worker_to_dict(worker) -> dict[str, Any]:
    """A row of selectors.workers_listed in the runbook's worker.getStats() names."""
    return {
        "name": worker.name,
        "running": worker.alive,
        "currentJob": str(worker.current_job) if worker.current_job else None,
        "processed": worker.processed,
        "succeeded": worker.succeeded,
        "failed": worker.failed,
        "uptimeMs": worker.uptime_ms,
        "lastSeen": worker.last_seen.isoformat(),
    }


def audit_entry_to_dict(entry: AuditEntry) -> dict[str, Any]:
    """An audit entry in the API's names: GET /api/audit and `jobs audit list`."""
    return {
        "id": entry.id,
        "createdAt": entry.created_at,
        "actor": entry.actor,
        "source": entry.source,
        "action": entry.action,
        "outcome": entry.outcome,
        "objectType": entry.object_type,
        "objectIds": entry.object_ids,
        "reason": entry.reason,
        "before": entry.before,
        "after": entry.after,
        "ip": entry.ip,
        "userAgent": entry.user_agent,
        "hash": entry.hash,
    }


def operation_to_dict(operation) -> dict[str, Any]:
    """A background operation (retry all) and its progress."""
    return {
        "id": str(operation.id),
        "kind": operation.kind,
        "state": operation.state,
        "total": operation.total,
        "done": operation.done,
        "percent": operation.percent,
        "result": operation.result,
        "error": operation.error,
        "requestedBy": operation.requested_by,
        "createdAt": iso(operation.created_at),
        "updatedAt": iso(operation.updated_at),
    }
