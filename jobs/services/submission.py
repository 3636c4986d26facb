"""Submitting jobs: one, or a batch in one transaction; jobKey idempotency and backpressure."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs import entrypoints
from jobs.db import dumps, execute_prepared, insert_many, row_of
from jobs.engine.wakeups import wake_after_commit
from jobs.models import DEFAULT_QUEUE, Job, Priority, Status
from jobs.representations import job_snapshot
from jobs.services.audit import Actor, audit_record
from jobs.services.backpressure import ensure_room_in_queue, with_room_for_one
from jobs.services.config import config_get, config_recent
from jobs.services.errors import Backpressure, Conflict, InvalidInput
from jobs.services.events import event_announce, event_emit, events_emit_each


def default_job_key(entrypoint: str, params: dict[str, Any]) -> str:
    """entrypoint + hash of params, as the original system derived jobKey."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return f"{entrypoint}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


class JobKeyTaken(Conflict):
    """A jobKey names an active job of other work: answering with that job would hide the new params."""

    code = "job_key_taken"

    def __init__(self, existing: Job, fields: dict[str, Any]) -> None:
        detail: dict[str, Any] = {
            "jobKey": existing.job_key,
            "existingJob": str(existing.id),
            "existingParams": existing.params,
            "params": fields["params"],
        }
        differs = "other params"
        if existing.entrypoint != fields["entrypoint"]:
            detail |= {"existingEntrypoint": existing.entrypoint, "entrypoint": fields["entrypoint"]}
            differs = "another entry point" + (" and params" if existing.params != fields["params"] else "")
        super().__init__(
            f"jobKey {existing.job_key!r} belongs to active job {existing.id} ({existing.status}) with "
            f"{differs}: it has {_shown(existing.entrypoint, existing.params)}, this submission "
            f"{_shown(fields['entrypoint'], fields['params'])}; use another jobKey, or wait until that job ends",
            detail,
        )


def _shown(entrypoint: str, params: Any) -> str:
    return f"{entrypoint} {json.dumps(params, sort_keys=True, separators=(',', ':'))}"


def _same_work(existing: Job, fields: dict[str, Any]) -> bool:
    """A repeat of the active job's submission: the same entry point and params (JSON equality)."""
    return existing.entrypoint == fields["entrypoint"] and existing.params == fields["params"]


def _validated_submission(
    entrypoint: Any, params: Any, priority: Any, max_attempts: Any, issue_id: Any, job_key: Any, default_attempts: int
) -> dict[str, Any]:
    if not isinstance(entrypoint, str) or not entrypoint:
        raise InvalidInput("entrypoint: required")
    if entrypoints.get(entrypoint) is None:
        raise InvalidInput(f"entrypoint: unknown entry point {entrypoint!r}", {"known": entrypoints.names()})
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise InvalidInput("params: must be a JSON object")
    try:
        rank = Priority.from_label(priority or "normal")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"priority: {exc}") from None
    if max_attempts is None:
        max_attempts = default_attempts
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or not 1 <= max_attempts <= 100:
        raise InvalidInput("maxAttempts: must be a whole number from 1 to 100")
    issue_id = "" if issue_id is None else str(issue_id).strip()
    if len(issue_id) > 200:
        raise InvalidInput("issueId: at most 200 characters")
    if job_key is not None and (not isinstance(job_key, str) or not job_key.strip() or len(job_key) > 255):
        raise InvalidInput("jobKey: must be a non-empty string of at most 255 characters")
    return {
        "entrypoint": entrypoint,
        "params": params,
        "priority": rank,
        "max_attempts": max_attempts,
        "issue_id": issue_id,
        "job_key": job_key.strip() if job_key else default_job_key(entrypoint, params),
    }


def job_submit(
    *,
    actor: Actor,
    entrypoint: Any,
    params: Any = None,
    priority: Any = "normal",
    max_attempts: Any = None,
    issue_id: Any = None,
    job_key: Any = None,
    run_after: datetime | None = None,
    queue_name: str = DEFAULT_QUEUE,
) -> tuple[Job, bool]:
    """Create a job, or return the active one with the same jobKey. Returns (job, created).

    ``run_after`` defers the first attempt (the reconciler publishes the job once
    due); ``queue_name`` is recorded as given. Both serve the django.tasks backend.
    """
    cfg = config_recent()
    fields = _validated_submission(
        entrypoint, params, priority, max_attempts, issue_id, job_key, cfg.worker.maxAttempts
    )
    job = _new_job(actor, cfg, {**fields, "queue_name": queue_name}, timezone.now(), run_after=run_after)
    try:
        with_room_for_one(lambda: _store_submitted(actor, job), cfg)
    except (IntegrityError, Backpressure):
        # The jobKey has an active job: a repeat answers with it, also under backpressure.
        existing = Job.objects.active().filter(job_key=job.job_key).first()
        if existing is None:
            raise
        if not _same_work(existing, fields):
            raise JobKeyTaken(existing, fields) from None
        return existing, False
    return job, True


# A queued submission's job and its job:submitted event, in one statement.
_INSERT_QUEUED = """
WITH job AS (
    INSERT INTO jobs_job SELECT * FROM jsonb_populate_record(NULL::jobs_job, %(job)s::jsonb) RETURNING id
)
INSERT INTO jobs_event (type, job_id, data, created_at)
SELECT 'job:submitted', id, %(data)s::jsonb, %(now)s FROM job
RETURNING id
"""


def _store_submitted(actor: Actor, job: Job) -> None:
    """Inside the submission's transaction: the job, its events, its audit entry, its wake-up."""
    waits = job.status == Status.WAITING_APPROVAL
    if connection.vendor == "postgresql" and not waits:
        data = {"entrypoint": job.entrypoint, "priority": job.priority_label}
        _, [(event_id,)] = execute_prepared(
            _INSERT_QUEUED, {"job": dumps(row_of(job)), "data": dumps(data), "now": job.created_at}
        )
        job._state.adding = False
        event_announce(event_id, "job:submitted", job_id=job.id, data=data, created_at=job.created_at)
    else:
        job.save(force_insert=True)
        event_emit("job:submitted", job=job, entrypoint=job.entrypoint, priority=job.priority_label)
        if waits:
            event_emit("job:waiting_approval", job=job, issueId=job.issue_id)
    audit_record(actor, action="job.submit", object_type="job", object_ids=[job.id], after=job_snapshot(job))
    if job.published_at is not None:
        wake_after_commit([job.id])


BATCH_MAX = 1000


def job_submit_many(*, actor: Actor, submissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Submit up to BATCH_MAX jobs in one transaction (the way Sidekiq's push_bulk serves producers).

    Each submission takes job_submit's keyword arguments. The answer has one item
    per submission, in order: {"job", "created"} or {"error"} for one that is
    invalid. jobKey idempotency holds per item, also between items of the batch.
    Under backpressure, or when the new jobs do not all fit below the threshold,
    the whole batch is refused (429) and nothing is stored.
    """
    if not isinstance(submissions, list) or not 1 <= len(submissions) <= BATCH_MAX:
        raise InvalidInput(f"jobs: send from 1 to {BATCH_MAX} submissions")
    cfg = config_get()
    results: list[dict[str, Any]] = []
    fields_by_item: dict[int, dict[str, Any]] = {}
    for n, submission in enumerate(submissions):
        try:
            fields_by_item[n] = _validated_submission_dict(submission, cfg.worker.maxAttempts)
            results.append({})
        except InvalidInput as exc:
            results.append({"error": {"error": exc.message, "detail": exc.detail}})
    for attempt in range(2):
        try:
            with transaction.atomic():
                jobs_by_key = _insert_new(actor, cfg, fields_by_item.values())
            break
        except IntegrityError:
            if attempt:  # another producer took the same keys twice over: give up loudly
                raise
    for n, fields in fields_by_item.items():
        job, created = jobs_by_key[fields["job_key"]]
        if not _same_work(job, fields):  # the key's job, active before or made by an earlier item, is other work
            refusal = JobKeyTaken(job, fields)
            results[n] = {"error": {"error": refusal.message, "detail": refusal.detail}}
            continue
        results[n] = {"job": job, "created": created}
        jobs_by_key[fields["job_key"]] = (job, False)  # a repeated key in the batch gets that job
    return results


def _validated_submission_dict(submission: Any, default_attempts: int) -> dict[str, Any]:
    if not isinstance(submission, dict):
        raise InvalidInput("must be a JSON object with an entrypoint")
    return _validated_submission(
        submission.get("entrypoint"),
        submission.get("params"),
        submission.get("priority") or "normal",
        submission.get("max_attempts"),
        submission.get("issue_id"),
        submission.get("job_key"),
        default_attempts,
    )


def _insert_new(actor: Actor, cfg, submissions) -> dict[str, tuple[Job, bool]]:
    """Insert the submissions whose jobKey has no active job; returns key -> (job, created)."""
    wanted: dict[str, dict[str, Any]] = {}
    for fields in submissions:
        wanted.setdefault(fields["job_key"], fields)
    found = {job.job_key: (job, False) for job in Job.objects.active().filter(job_key__in=list(wanted))}
    now = timezone.now()
    new = [_new_job(actor, cfg, fields, now) for key, fields in wanted.items() if key not in found]
    if new:
        room = ensure_room_in_queue(cfg, wanted=len(new))
        if room < len(new):
            raise Backpressure(
                f"Backpressure: only {room} of the batch's {len(new)} new jobs fit below the "
                f"{cfg.queue.backpressureThreshold}% threshold; send a smaller batch or try again later",
                retry_after=max(1, cfg.worker.retryDelayMs // 1000),
                detail={"fits": room, "new": len(new)},
            )
        insert_many(Job, new)
        events_emit_each(
            "job:submitted", [(job, {"entrypoint": job.entrypoint, "priority": job.priority_label}) for job in new]
        )
        waiting = [job for job in new if job.status == Status.WAITING_APPROVAL]
        events_emit_each("job:waiting_approval", [(job, {"issueId": job.issue_id}) for job in waiting])
        audit_record(
            actor,
            action="job.submit_batch",
            object_type="job",
            object_ids=[job.id for job in new],
            after={"count": len(new), "entrypoints": sorted({job.entrypoint for job in new})},
        )
        wake_after_commit([job.id for job in new if job.status == Status.QUEUED])
    return {**found, **{job.job_key: (job, True) for job in new}}


def _new_job(actor: Actor, cfg, fields: dict[str, Any], now, *, run_after: datetime | None = None) -> Job:
    waits = bool(fields["issue_id"])
    first_attempt_at = run_after if run_after is not None and run_after > now else now
    return Job(
        **fields,
        status=Status.WAITING_APPROVAL if waits else Status.QUEUED,
        approval_expires_at=now + timedelta(hours=cfg.approval.defaultTtlHours) if waits else None,
        submitted_by=actor.username or actor.name,
        created_at=now,
        updated_at=now,
        next_attempt_at=first_attempt_at,
        # A deferred job gets its wake-up from the reconciler once due, as a retry does.
        published_at=None if waits or first_attempt_at > now else now,
    )
