"""Importing jobs from JSONL: the original system's jobs.jsonl, or our own export.

One job per line in the runbook's field names (``job_to_dict``). Every line is
validated before anything is written; a bad line refuses the whole file (or is
skipped and reported, when asked). Importing the same file twice creates no
duplicates: a job whose id is already here is left as it is.

Ids that are not UUIDs (the original system's own ids) are mapped to a stable
UUID (uuid5), so a re-import finds them again and retriedFrom links survive.

An import never starts a second run of a job: a line whose id is here already is
left as it is, and a job that was ``running`` when it was exported (its code may
still run, there or here) comes in failed, into the DLQ with a note, for an
operator to retry once that run has surely stopped.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from django.db import transaction
from django.utils import timezone
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError

from jobs import entrypoints
from jobs.engine.wakeups import wake_after_commit
from jobs.models import ACTIVE_STATUSES, FINAL_STATUSES, DLQEntry, Job, Priority, Status
from jobs.services.audit import Actor, audit_record
from jobs.services.config import config_get
from jobs.services.dlq import error_fingerprint
from jobs.services.errors import InvalidInput

# Imported ids that are not UUIDs become uuid5(IMPORT_NAMESPACE, id).
IMPORT_NAMESPACE = uuid.UUID("6f1c2b9e-4d8a-5e3f-9a7b-0c1d2e3f4a5b")
# A refusal names at most this many lines in its message (all are in detail).
MESSAGE_LINES = 5
_BATCH = 1000
# Why an imported `running` job is failed instead of queued (its status reason and DLQ reason).
INTERRUPTED = (
    "Imported while running: not started again, as its first run may still be going; "
    "retry it from the DLQ once that run has stopped"
)


def imported_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.uuid5(IMPORT_NAMESPACE, value)


def _no_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold NUL characters."""
    if _has_nul(value):
        raise ValueError("must not contain NUL characters")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in str(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _storable_time(value: datetime) -> datetime:
    """A time PostgreSQL and Python can both hold, in UTC (an offset can push year 1 to year 0)."""
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("time out of range") from None
    if not 1970 <= value.year <= 9000:
        raise ValueError("time out of range (years 1970 to 9000)")
    return value


Time = Annotated[AwareDatetime, AfterValidator(_storable_time)]
Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
User = Annotated[str, Field(max_length=150), AfterValidator(_no_nul)]
Json = Annotated[Any, AfterValidator(_no_nul)]


class DlqLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: Text
    addedAt: Time | None = None
    attempts: StrictInt | None = Field(None, ge=0)
    lastError: Text | None = None
    fingerprint: Annotated[str, Field(max_length=16)] | None = None


class JobLine(BaseModel):
    """One line. Unknown fields are ignored (the original system may carry more)."""

    model_config = ConfigDict(extra="ignore")

    id: Name
    entrypoint: Name
    status: Literal["waiting_approval", "queued", "running", "succeeded", "failed", "canceled"]
    createdAt: Time
    jobKey: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_nul)] | None = None
    params: Annotated[dict[str, Any], AfterValidator(_no_nul)] | None = None
    priority: Literal["critical", "high", "normal", "low"] = "normal"
    attempts: StrictInt = Field(0, ge=0, le=1_000_000)
    maxAttempts: StrictInt | None = Field(None, ge=1, le=100)
    lastError: Text | None = None
    result: Json = None
    issueId: Annotated[str, Field(max_length=200), AfterValidator(_no_nul)] | None = None
    approvalExpiresAt: Time | None = None
    updatedAt: Time | None = None
    startedAt: Time | None = None
    completedAt: Time | None = None
    retriedFrom: Name | None = None
    submittedBy: User | None = None
    statusReason: Text | None = None
    approvedBy: User | None = None
    dlq: DlqLine | None = None


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(p) for p in item["loc"]) or "line"
        message = "required" if item["type"] == "missing" else item["msg"]
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def _parse_line(text: str) -> JobLine:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ValueError("must be a JSON object (one job per line)")
    try:
        row = JobLine.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from None
    if row.status in ACTIVE_STATUSES and entrypoints.get(row.entrypoint) is None:
        raise ValueError(f"entrypoint: unknown entry point {row.entrypoint!r} (an active job must name one)")
    return row


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _job_from(row: JobLine, *, cfg, now: datetime, importer: str) -> Job:
    from jobs.services.submission import default_job_key

    params = row.params or {}
    interrupted = row.status == Status.RUNNING
    status = Status.FAILED if interrupted else row.status
    waits = status == Status.WAITING_APPROVAL
    approval_expires_at = row.approvalExpiresAt
    if waits and approval_expires_at is None:
        approval_expires_at = row.createdAt + timedelta(hours=cfg.approval.defaultTtlHours)
    return Job(
        id=imported_id(row.id),
        job_key=row.jobKey or default_job_key(row.entrypoint, params),
        entrypoint=row.entrypoint,
        params=params,
        priority=Priority.from_label(row.priority),
        status=status,
        attempts=row.attempts,
        max_attempts=row.maxAttempts or cfg.worker.maxAttempts,
        last_error=row.lastError or (INTERRUPTED if interrupted else ""),
        result=row.result,
        status_reason=INTERRUPTED if interrupted else row.statusReason or "",
        issue_id=row.issueId or "",
        approval_expires_at=approval_expires_at,
        approved_by=row.approvedBy or "",
        created_at=row.createdAt,
        updated_at=row.updatedAt or row.createdAt,
        started_at=row.startedAt,
        completed_at=now if interrupted else row.completedAt if status in FINAL_STATUSES else None,
        next_attempt_at=now,
        published_at=now if status == Status.QUEUED else None,
        retried_from_id=imported_id(row.retriedFrom) if row.retriedFrom else None,
        submitted_by=row.submittedBy or "",
        imported_by=importer,
    )


def _chunks(items: list, size: int = _BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_answer(report: dict[str, Any]) -> dict[str, Any]:
    """An import's report as the API (and an import operation's result) answers it."""
    skipped = [{"line": line, "error": error} for line, error in report["skipped"]]
    return {
        "imported": report["imported"],
        "interrupted": report["interrupted"],
        "duplicates": report["duplicates"],
        "skipped": skipped,
    }


def jsonl_import(*, actor: Actor, text: str, skip_bad_lines: bool = False) -> dict[str, Any]:
    """Import jobs; returns {"imported", "duplicates", "skipped": [(line, error)]}.

    Raises InvalidInput naming every bad line (and writes nothing) unless
    ``skip_bad_lines``. Queued jobs are published once the import commits.
    """
    action = "jobs.import"
    if not isinstance(text, str):
        raise InvalidInput("body: JSONL text expected")
    cfg = config_get()
    now = timezone.now()

    bad: list[tuple[int, str]] = []
    parsed: dict[uuid.UUID, tuple[int, JobLine]] = {}
    repeats = 0
    lines_seen = 0
    # Lines end at \n only (\r\n too): str.splitlines() would also split at U+2028,
    # U+0085 and other characters that JSON allows inside a string.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        lines_seen += 1
        try:
            row = _parse_line(line)
        except ValueError as exc:
            bad.append((number, str(exc)))
            continue
        key = imported_id(row.id)
        if key in parsed:
            repeats += 1  # an append-only store writes a job again when it changes: the last line wins
        parsed[key] = (number, row)

    with transaction.atomic():
        existing: set[uuid.UUID] = set()
        for chunk in _chunks(list(parsed)):
            existing.update(Job.objects.filter(id__in=chunk).values_list("id", flat=True))
        candidates = {key: value for key, value in parsed.items() if key not in existing}
        importer = actor.username or actor.name
        jobs = {key: _job_from(row, cfg=cfg, now=now, importer=importer) for key, (_, row) in candidates.items()}
        bad.extend(_active_key_conflicts(jobs, candidates))
        bad.sort()
        bad_lines = {n for n, _ in bad}
        # Skipping bad lines still needs one good line: a file of nothing but errors is refused.
        if bad and (not skip_bad_lines or len(bad_lines) == lines_seen):
            listed = "; ".join(f"line {n}: {error}" for n, error in bad[:MESSAGE_LINES])
            more = f" (and {len(bad) - MESSAGE_LINES} more)" if len(bad) > MESSAGE_LINES else ""
            raise InvalidInput(
                f"{len(bad)} bad line(s), nothing imported: {listed}{more}",
                {"lines": [{"line": n, "error": error} for n, error in bad]},
            )
        to_create = [job for key, job in jobs.items() if candidates[key][0] not in bad_lines]
        known = existing | {job.id for job in to_create}
        for job in to_create:
            if job.retried_from_id not in known:
                job.retried_from_id = None  # the original is not here: keep the job, drop the link
        for chunk in _chunks(to_create):
            Job.objects.bulk_create(chunk)
        entries = [
            _dlq_entry(job, candidates[job.id][1])
            for job in to_create
            if candidates[job.id][1].dlq is not None and job.status == Status.FAILED
        ]
        interrupted = [job for job in to_create if candidates[job.id][1].status == Status.RUNNING]
        if cfg.dlq.enabled:
            entries += [_interrupted_entry(job, now) for job in interrupted]
        restored = _dlq_entries_restored(existing, parsed, bad_lines)
        for chunk in _chunks(entries + restored):
            DLQEntry.objects.bulk_create(chunk)
        audit_record(
            actor,
            action=action,
            object_type="job",
            object_ids=[job.id for job in to_create],
            before={"alreadyPresent": len(existing)},
            after={
                "imported": len(to_create),
                "interrupted": len(interrupted),
                "duplicates": len(existing) + repeats,
                "skippedLines": [n for n, _ in bad],
                "dlqEntries": len(entries),
                "dlqEntriesRestored": len(restored),
            },
        )
        wake_after_commit([job.id for job in to_create if job.status == Status.QUEUED])
    return {
        "imported": len(to_create),
        "interrupted": len(interrupted),
        "duplicates": len(existing) + repeats,
        "skipped": bad,
    }


def _dlq_entries_restored(existing: set[uuid.UUID], parsed: dict, bad_lines: set[int]) -> list[DLQEntry]:
    """DLQ entries of jobs already here, failed and out of the DLQ: what re-importing a DLQ-clear export restores."""
    with_entry = {
        key: row
        for key, (number, row) in parsed.items()
        if key in existing and row.dlq is not None and number not in bad_lines
    }
    restored = []
    for chunk in _chunks(list(with_entry)):
        for job in Job.objects.filter(id__in=chunk, status=Status.FAILED, dlq_entry__isnull=True):
            restored.append(_dlq_entry(job, with_entry[job.id]))
    return restored


def _active_key_conflicts(jobs: dict[uuid.UUID, Job], candidates: dict) -> list[tuple[int, str]]:
    """Active jobs must have distinct jobKeys, here and among the jobs already present."""
    active = {key: job for key, job in jobs.items() if job.status in ACTIVE_STATUSES}
    taken: dict[str, uuid.UUID] = {}
    keys = list({job.job_key for job in active.values()})
    for chunk in _chunks(keys):
        taken.update(Job.objects.active().filter(job_key__in=chunk).values_list("job_key", "id"))
    conflicts = []
    for key, job in sorted(active.items(), key=lambda item: candidates[item[0]][0]):
        holder = taken.get(job.job_key)
        if holder is not None:
            line = candidates[key][0]
            conflicts.append((line, f"jobKey: job {holder} with this jobKey is already active"))
            continue
        taken[job.job_key] = job.id
    return conflicts


def _interrupted_entry(job: Job, now: datetime) -> DLQEntry:
    return DLQEntry.of(
        job,
        reason=INTERRUPTED,
        attempts=job.attempts,
        last_error=job.last_error,
        fingerprint=error_fingerprint(job.last_error),
        added_at=now,
    )


def _dlq_entry(job: Job, row: JobLine) -> DLQEntry:
    dlq = row.dlq
    assert dlq is not None
    last_error = dlq.lastError if dlq.lastError is not None else job.last_error
    return DLQEntry.of(
        job,
        reason=dlq.reason,
        attempts=dlq.attempts if dlq.attempts is not None else job.attempts,
        last_error=last_error or "",
        fingerprint=dlq.fingerprint or error_fingerprint(last_error or dlq.reason),
        added_at=dlq.addedAt or job.completed_at or job.updated_at,
    )
