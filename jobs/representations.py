"""Jobs, DLQ entries and the rest in the runbook's JSON shape (camelCase, ISO 8601 times).

One shape for the API, the JSONL store format, exports and audit snapshots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobs.models import ActionRequest, AuditEntry, DLQEntry, Event, Job, Pause
from jobs.selectors.attempts import Attempt, job_attempts
from jobs.selectors.history import Histogram, History, Point, Series


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


def selection_breakdown(rows: list[list[Any]]) -> dict[str, list[dict[str, Any]]]:
    """A frozen selection's [entrypoint, status, fingerprint, count] rows, summed by each of the three."""
    sums: dict[str, dict[Any, int]] = {"entrypoint": {}, "status": {}, "fingerprint": {}}
    for entrypoint, status, fingerprint, n in rows:
        for name, value in (("entrypoint", entrypoint), ("status", status), ("fingerprint", fingerprint)):
            sums[name][value] = sums[name].get(value, 0) + n
    return {
        f"by{name[:1].upper()}{name[1:]}": [
            {name: value, "count": n} for value, n in sorted(counted.items(), key=lambda item: (-item[1], str(item[0])))
        ]
        for name, counted in sums.items()
    }


def selection_to_dict(selection) -> dict[str, Any]:
    """A bulk action's frozen selection (its dry run): what a run would hit, without the ids themselves."""
    return {
        "id": str(selection.id),
        "action": selection.action,
        "state": "expired" if selection.expired else selection.state,
        "createdBy": selection.created_by,
        "createdAt": iso(selection.created_at),
        "expiresAt": iso(selection.expires_at),
        "filter": selection.filter,
        "count": selection.total,
        "breakdown": selection_breakdown(selection.breakdown),
        "effect": selection.effect,
        "operation": str(selection.operation_id) if selection.operation_id else None,
        "reason": selection.reason,
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
        "waitingForRoom": operation.state == operation.State.WAITING,
        "progress": operation_progress(operation),
        "cancelable": operation.cancelable,
        "cancelRequested": operation.cancel_requested_at is not None,
        "canceledBy": operation.canceled_by,
        "cancelReason": operation.cancel_reason,
    }


def operation_progress(operation) -> str:
    """One line on where an operation stands, as the console's operation page shows it."""
    counts = f"{operation.done} of {operation.total}"
    retried = operation.result.get("retried")
    if retried is not None:
        counts += f", {retried} retried"
    if operation.kind == "jobs.bulk_run":  # a bulk run over a frozen selection
        counts += f", {operation.result.get('changed', 0)} done, {operation.result.get('skipped', 0)} skipped"
    state = operation.state
    if state == operation.State.WAITING:
        return (
            f"waiting for room: the queue is at its pace below the backpressure threshold ({counts}); "
            "it goes on by itself as jobs leave the queue, or cancel it"
        )
    if state == operation.State.RUNNING and operation.cancel_requested_at is not None:
        return f"canceling: stops after the batch under way ({counts})"
    if state == operation.State.CANCELED:
        return f"canceled by {operation.canceled_by or 'an operator'} ({counts}); what it did is kept"
    return f"{state} ({counts})"


def action_request_to_dict(request: ActionRequest) -> dict[str, Any]:
    """A four-eyes request: what was asked, by whom, until when, and what came of it."""
    return {
        "id": str(request.id),
        "action": request.action,
        "target": request.target or None,
        "reason": request.reason,
        "requestedBy": request.requested_by,
        "requestedVia": request.requested_via,
        "createdAt": iso(request.created_at),
        "expiresAt": iso(request.expires_at),
        "state": request.state,
        "decidedBy": request.decided_by or None,
        "decidedAt": iso(request.decided_at),
        "message": request.message or None,
    }


def pause_to_dict(pause: Pause, queued: int | None = None) -> dict[str, Any]:
    """Paused work: an entry point or a priority, who paused it and why, and what it holds back."""
    return {
        "entrypoint": pause.entrypoint or None,
        "priority": pause.get_priority_display() if pause.priority is not None else None,
        "what": pause.what,
        "reason": pause.reason,
        "pausedBy": pause.paused_by,
        "pausedAt": iso(pause.paused_at),
        "queued": queued,
    }


def history_to_dict(report: History) -> dict[str, Any]:
    return {
        "window": report.window.name,
        "bucketSeconds": int(report.window.step.total_seconds()),
        "start": report.start,
        "end": report.end,
        "entrypoint": report.entrypoint,
        "total": _series(report.total),
        "entrypoints": [_series(series) for series in report.series],
    }


def _series(series: Series) -> dict[str, Any]:
    return {
        "entrypoint": series.entrypoint,
        "totals": _point(series.total),
        "buckets": [_point(point) for point in series.points],
    }


def _point(point: Point) -> dict[str, Any]:
    return {
        "start": point.start,
        "succeeded": point.succeeded,
        "failed": point.failed,
        "retried": point.retried,
        "runTimeMs": _durations(point.run),
        "queueLatencyMs": _durations(point.wait),
    }


def _durations(histogram: Histogram) -> dict[str, Any]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "count": histogram.count,
        "avg": rounded(histogram.mean),
        "p50": rounded(histogram.p50),
        "p95": rounded(histogram.p95),
    }
