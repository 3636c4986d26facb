"""The dead-letter queue: adding, retrying, clearing and cleaning entries.

Entries are taken out of the DLQ; the job rows always stay.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.engine.wakeups import wake_after_commit
from jobs.models import DLQEntry, Job
from jobs.services.audit import Actor, audit_record, required_reason
from jobs.services.backpressure import ensure_room_in_queue
from jobs.services.config import config_get
from jobs.services.errors import Conflict, NotFound
from jobs.services.events import event_emit, events_emit_each
from jobs.services.export import export_path, job_export_rows, write_jsonl
from jobs.services.submission import default_job_key

_VOLATILE = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|0x[0-9a-f]+|\d+", re.IGNORECASE)


def error_fingerprint(error: str) -> str:
    """Group alike errors: first line, with ids and numbers taken out."""
    first_line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    return hashlib.sha256(_VOLATILE.sub("#", first_line).encode()).hexdigest()[:12]


def dlq_add(job: Job, *, reason: str) -> DLQEntry | None:
    """Put a failed job into the DLQ. Call inside the transaction that failed it."""
    entries = dlq_add_many([job], reason=reason)
    return entries[0] if entries else None


def dlq_add_many(jobs: list[Job], *, reason: str) -> list[DLQEntry]:
    """Put failed jobs into the DLQ: one INSERT for the entries, one for their events, one eviction.

    Call inside the transaction that failed them. An entry already there for a job is
    replaced, as the job's latest failure.
    """
    cfg = config_get()
    if not cfg.dlq.enabled or not jobs:
        return []
    now = timezone.now()
    entries = [
        DLQEntry.of(
            job,
            reason=reason,
            attempts=job.attempts,
            last_error=job.last_error,
            fingerprint=error_fingerprint(job.last_error or reason),
            added_at=now,
        )
        for job in jobs
    ]
    DLQEntry.objects.bulk_create(
        entries,
        update_conflicts=True,
        unique_fields=["job"],
        update_fields=["entrypoint", "reason", "attempts", "last_error", "fingerprint", "added_at"],
    )
    events_emit_each(
        "job:dlq",
        [(job, {"reason": reason, "attempts": job.attempts, "lastError": job.last_error}) for job in jobs],
    )
    _evict_beyond(cfg.dlq.maxSize)
    return entries


def _evict_beyond(max_size: int) -> None:
    overflow = DLQEntry.objects.count() - max_size
    if overflow <= 0:
        return
    oldest = list(DLQEntry.objects.order_by("added_at", "job_id").values_list("job_id", flat=True)[:overflow])
    DLQEntry.objects.filter(job_id__in=oldest).delete()
    event_emit("dlq:evicted", count=len(oldest), jobIds=[str(i) for i in oldest], maxSize=max_size)


def _retry_entry(job_id, *, params: dict[str, Any] | None = None) -> tuple[Job, Job] | None:
    """Take the entry out and create the new job (with ``params`` instead of the old job's, when
    given). Returns (old, new); None when another retry got there first.

    Call inside a transaction: the DELETE decides the race, so two concurrent
    retries of one entry create exactly one job.
    """
    deleted, _ = DLQEntry.objects.filter(job_id=job_id).delete()
    if not deleted:
        return None
    old = Job.objects.get(id=job_id)
    new = _retry_of(old, timezone.now(), params=params)
    try:
        with transaction.atomic():
            new.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            f"an active job with jobKey {old.job_key} already exists; job {old.id} stays in the DLQ"
        ) from None
    event_emit("job:retried_from_dlq", job=old, newJobId=str(new.id))
    event_emit(
        "job:submitted", job=new, entrypoint=new.entrypoint, priority=new.priority_label, retriedFrom=str(old.id)
    )
    wake_after_commit([new.id])
    return old, new


def dlq_retry(*, actor: Actor, job_id, reason: str = "") -> Job:
    """Retry one DLQ entry as a new job linked to the old one (runbook: retryFromDLQ)."""
    return _retry_one(actor, job_id, reason=reason)


def dlq_retry_edited(*, actor: Actor, job_id, params: dict[str, Any], reason: str) -> Job:
    """Retry one DLQ entry as a new job with edited params (runbook: "Fix params, retry with new job").

    The old job and its params stay as they were; the new job keeps ``retriedFrom``.
    The audit entry holds both params and their difference, path by path.
    """
    return _retry_one(actor, job_id, reason=reason, params=params)


def _retry_one(actor: Actor, job_id, *, reason: str, params: dict[str, Any] | None = None) -> Job:
    """The new job of one entry, with the old params or ``params``, and its audit entry."""
    with transaction.atomic():
        ensure_room_in_queue()
        retried = _retry_entry(job_id, params=params)
        if retried is None:
            raise NotFound(f"job {job_id} is not in the DLQ")
        old, new = retried
        before: dict[str, Any] = {"dlq": True}
        after: dict[str, Any] = {"newJobId": str(new.id)}
        if params is not None:
            before["params"] = old.params
            after |= {"params": new.params, "changed": params_diff(old.params, new.params)}
        audit_record(
            actor,
            action="dlq.retry" if params is None else "dlq.retry_edited",
            object_type="job",
            object_ids=[job_id, new.id],
            reason=reason,
            before=before,
            after=after,
        )
    return new


def params_diff(before: Any, after: Any, path: str = "") -> dict[str, list[Any]]:
    """{"a.b": [old, new]} for every leaf that differs; a missing side is None."""
    if isinstance(before, dict) and isinstance(after, dict):
        changed: dict[str, list[Any]] = {}
        for key in sorted(before.keys() | after.keys()):
            changed |= params_diff(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return changed
    return {} if before == after else {path or "params": [before, after]}


def dlq_retry_batch(*, actor: Actor, job_ids: list, reason: str = "", action: str = "dlq.retry_all") -> list[str]:
    """Retry several entries in one transaction and one audit entry; returns the new job ids.

    Entries another retry already took are skipped, so each entry is retried once;
    so are entries whose jobKey has an active job (they stay in the DLQ). Only as
    many as fit below the backpressure threshold are retried; the rest stay.
    """
    return dlq_retry_entries(actor=actor, job_ids=job_ids, reason=reason, action=action).new_ids


@dataclass(frozen=True)
class RetriedBatch:
    new_ids: list[str]
    # (added_at, job_id) of the last entry dealt with, retried or passed over for
    # its active jobKey: a walk over the DLQ in that order goes on after it.
    resume_after: tuple | None


def dlq_retry_entries(
    *, actor: Actor, job_ids: list, reason: str = "", action: str = "dlq.retry_all", room: int | None = None
) -> RetriedBatch:
    """dlq_retry_batch as set-based work: one INSERT of the new jobs, one DELETE of the
    entries, one INSERT of each kind of event and one audit entry, however many.

    ``room``: how many may be queued, counted by the caller under the queue's lock in
    the same transaction (a paced retry-all); otherwise refused (429) at the threshold.
    """
    with transaction.atomic():
        room = ensure_room_in_queue(wanted=len(job_ids)) if room is None else room
        entries = list(
            DLQEntry.objects.filter(job_id__in=job_ids)
            .select_related("job")
            .order_by("added_at", "job_id")
            .select_for_update(skip_locked=True, of=("self",))
        )
        olds, last = _retryable(entries, room)
        now = timezone.now()
        news = [_retry_of(old, now) for old in olds]
        Job.objects.bulk_create(news)
        DLQEntry.objects.filter(job_id__in=[old.id for old in olds]).delete()
        pairs = list(zip(olds, news, strict=True))
        events_emit_each("job:retried_from_dlq", [(old, {"newJobId": str(new.id)}) for old, new in pairs])
        events_emit_each(
            "job:submitted",
            [
                (new, {"entrypoint": new.entrypoint, "priority": new.priority_label, "retriedFrom": str(old.id)})
                for old, new in pairs
            ],
        )
        audit_record(
            actor,
            action=action,
            object_type="job",
            object_ids=[old.id for old in olds],
            reason=reason,
            before={"count": len(olds)},
            after={"newJobIds": [str(new.id) for new in news]},
        )
        wake_after_commit([new.id for new in news])
    return RetriedBatch([str(new.id) for new in news], last)


def _retryable(entries: list[DLQEntry], room: int) -> tuple[list[Job], tuple | None]:
    """Up to ``room`` jobs, in order, whose jobKey has no active job (the first of a repeated key)."""
    keys = {entry.job.job_key for entry in entries}
    active = set(Job.objects.active().filter(job_key__in=keys).values_list("job_key", flat=True))
    chosen: list[Job] = []
    last = None
    for entry in entries:
        if entry.job.job_key not in active:
            if len(chosen) == room:
                break
            active.add(entry.job.job_key)
            chosen.append(entry.job)
        last = (entry.added_at, entry.job_id)
    return chosen, last


def _retry_of(old: Job, now, *, params: dict[str, Any] | None = None) -> Job:
    """The new job a retry creates: same entrypoint, params, priority and maxAttempts.

    With edited ``params``, a jobKey that was derived from the old params is derived
    again from the new ones; a key the submitter chose stays.
    """
    job_key = old.job_key
    if params is not None and old.job_key == default_job_key(old.entrypoint, old.params):
        job_key = default_job_key(old.entrypoint, params)
    return Job(
        job_key=job_key,
        entrypoint=old.entrypoint,
        params=old.params if params is None else params,
        priority=old.priority,
        max_attempts=old.max_attempts,
        issue_id="",
        retried_from=old,
        submitted_by=old.submitted_by,
        imported_by=old.imported_by,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
        published_at=now,
    )


def dlq_clear(*, actor: Actor, reason: str) -> dict[str, Any]:
    """Take every entry out of the DLQ (the jobs stay failed), after a JSONL export."""
    reason = required_reason(reason)
    with transaction.atomic():
        locked = DLQEntry.objects.select_for_update().order_by("added_at", "job_id").values_list("job_id", flat=True)
        ids = [str(job_id) for job_id in locked]
        # Job lines with their entry riding along, as the store's export writes them:
        # importing this file puts the entries back (jobs.services.jsonl).
        path = export_path("dlq-clear")
        dead = Job.objects.filter(id__in=ids).select_related("dlq_entry").order_by("dlq_entry__added_at", "id")
        write_jsonl(path, job_export_rows(dead))
        DLQEntry.objects.filter(job_id__in=ids).delete()
        event_emit("dlq:cleared", count=len(ids), export=str(path), reason=reason)
        audit_record(
            actor,
            action="dlq.clear",
            object_type="job",
            object_ids=ids,
            reason=reason,
            before={"dlq": len(ids)},
            after={"dlq": 0, "export": str(path)},
        )
    return {"removed": len(ids), "export": str(path)}


def dlq_discard(*, actor: Actor, job_id, reason: str) -> DLQEntry:
    """Take one entry out of the DLQ without retrying it; the job stays failed.

    The entry as it was (reason, attempts, last error) is kept in the audit entry.
    """
    reason = required_reason(reason)
    with transaction.atomic():
        entry = DLQEntry.objects.select_for_update(of=("self",)).select_related("job").filter(job_id=job_id).first()
        if entry is None:
            raise NotFound(f"job {job_id} is not in the DLQ")
        job = entry.job
        entry.delete()
        event_emit("dlq:discarded", job=job, reason=reason, by=actor.name)
        audit_record(
            actor,
            action="dlq.discard",
            object_type="job",
            object_ids=[job_id],
            reason=reason,
            before={"reason": entry.reason, "attempts": entry.attempts, "lastError": entry.last_error},
            after={"dlq": False},
        )
    return entry


def dlq_clean_expired(*, actor: Actor) -> int:
    """Remove entries older than dlq.retentionDays (runbook: cleanExpiredDLQ)."""
    cfg = config_get()
    cutoff = timezone.now() - timedelta(days=cfg.dlq.retentionDays)
    with transaction.atomic():
        ids = list(DLQEntry.objects.filter(added_at__lt=cutoff).values_list("job_id", flat=True))
        DLQEntry.objects.filter(job_id__in=ids).delete()
        event_emit("dlq:cleaned", count=len(ids), retentionDays=cfg.dlq.retentionDays)
        audit_record(
            actor,
            action="dlq.clean_expired",
            object_type="job",
            object_ids=ids,
            before={"olderThan": cutoff.isoformat()},
            after={"removed": len(ids)},
        )
    return len(ids)
