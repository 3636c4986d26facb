"""What each action of the catalog does, given the actor, its validated input and its target.

Each calls its service and turns what it returns into an Outcome: the API's
answer and the one line the console and the CLI show.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from jobs import selectors
from jobs.actions import inputs
from jobs.actions.inputs import config_changes
from jobs.actions.validation import invalid_input
from jobs.representations import (
    action_request_to_dict,
    job_to_dict,
    operation_to_dict,
    pause_to_dict,
    selection_to_dict,
)
from jobs.services import approvals, bulk, dlq, four_eyes, lifecycle, operations, pauses, submission, system
from jobs.services.audit import Actor, authorize
from jobs.services.config import config_update
from jobs.services.errors import InvalidInput, ServiceError


@dataclass(frozen=True)
class Outcome:
    """What an action did: the API's answer (``data``, ``status``) and one line for people."""

    data: dict[str, Any]
    message: str
    status: int = 200

    @property
    def operation_id(self) -> str | None:
        """Set when the action started a background operation (follow its progress)."""
        operation = self.data.get("operation")
        return str(operation["id"]) if operation else None


Perform = Callable[[Actor, Any, Any], Outcome]


def submit(actor: Actor, data: inputs.Submission, target: None) -> Outcome:
    job, created = submission.job_submit(actor=actor, **data.service_fields())
    verb = "submitted" if created else "already active:"
    return Outcome(job_to_dict(job), f"{verb} job {job.id} ({job.status})", 201 if created else 200)


def submit_batch(actor: Actor, data: inputs.SubmissionBatch, target: None) -> Outcome:
    submissions: list[dict[str, Any]] = []
    invalid: dict[int, dict[str, Any]] = {}
    for n, item in enumerate(data.jobs):
        try:
            submissions.append(inputs.Submission.model_validate(item).service_fields())
        except ValidationError as exc:
            error = invalid_input(exc)
            invalid[n] = {"error": error.message, "detail": error.detail}
    answers = iter(submission.job_submit_many(actor=actor, submissions=submissions) if submissions else [])
    items = []
    for n in range(len(data.jobs)):
        if n in invalid:
            items.append({"error": invalid[n]})
            continue
        answer = next(answers)
        items.append(answer if "error" in answer else {"job": job_to_dict(answer["job"]), "created": answer["created"]})
    created = sum(1 for item in items if item.get("created"))
    return Outcome({"items": items}, f"submitted {created} of {len(items)} jobs", 201)


def cancel(actor: Actor, data: inputs.Reason, job_id) -> Outcome:
    job = lifecycle.job_cancel(actor=actor, job_id=job_id, reason=data.reason)
    return Outcome(job_to_dict(job), f"canceled job {job.id}")


def cancel_selected(actor: Actor, data: inputs.BulkCancel, target: None) -> Outcome:
    canceled = lifecycle.jobs_cancel(actor=actor, job_ids=job_ids(data.ids), reason=data.reason)
    skipped = len(data.ids) - len(canceled)
    note = f" ({skipped} had already ended)" if skipped else ""
    return Outcome({"canceled": len(canceled), "ids": canceled}, f"canceled {len(canceled)} jobs{note}")


def bulk_freeze(actor: Actor, data: inputs.BulkFreeze, target: None) -> Outcome:
    filters = data.filter.model_dump(exclude_none=True) if data.filter else {}
    if "params" in filters:
        params = filters["params"]
        filters["params"] = selectors.params_filter(json.dumps(params) if isinstance(params, dict) else params)
    selection = bulk.bulk_freeze(
        actor=actor, action=data.action, filters=filters, ids=job_ids(data.ids) if data.ids else None
    )
    verb = {"cancel": "cancel", "retry": "retry from the DLQ", "force_fail": "force-fail"}[selection.action]
    jobs = "job" if selection.total == 1 else "jobs"
    message = (
        f"froze {selection.total} {jobs} to {verb} as selection {selection.id}; "
        f"nothing changes until it runs, within {bulk.SELECTION_MINUTES} minutes"
    )
    return Outcome({"selection": selection_to_dict(selection)}, message, 201)


def bulk_run(actor: Actor, data: inputs.Reason, selection_id) -> Outcome:
    operation = operations.bulk_run_start(actor=actor, selection_id=selection_id, reason=data.reason)
    jobs = "job" if operation.total == 1 else "jobs"
    message = (
        f"running selection {selection_id} ({operation.total} frozen {jobs}) in the background: "
        f"operation {operation.id}"
    )
    return Outcome({"operation": operation_to_dict(operation)}, message, 202)


def job_ids(values: list[str]) -> list[str]:
    try:
        return [str(uuid.UUID(value)) for value in values]
    except ValueError:
        raise InvalidInput("ids: not a job id") from None


def force_fail(actor: Actor, data: inputs.Reason, job_id) -> Outcome:
    job = lifecycle.job_force_fail(actor=actor, job_id=job_id, reason=data.reason)
    return Outcome(job_to_dict(job), f"force-failed job {job.id}; it is in the DLQ")


def approve(actor: Actor, data: inputs.OptionalReason, job_id) -> Outcome:
    job = approvals.job_approve(actor=actor, job_id=job_id, reason=data.reason)
    return Outcome(job_to_dict(job), f"approved job {job.id}; it is {job.status}")


def reject(actor: Actor, data: inputs.Reason, job_id) -> Outcome:
    job = approvals.job_reject(actor=actor, job_id=job_id, reason=data.reason)
    return Outcome(job_to_dict(job), f"rejected job {job.id}; it is canceled")


def check_approval(actor: Actor, data: inputs.NoInput, job_id) -> Outcome:
    result = approvals.approval_force_check(actor=actor, job_id=job_id)
    if result["approved"]:
        message = f"job {job_id}: the issue is approved; the job is queued"
    elif result["expired"]:
        message = f"job {job_id}: its approval expired; the job failed"
    else:
        message = f"job {job_id}: not approved yet; expires in {result['expiresInHours']:g} h"
    return Outcome(result, message)


def cancel_low_priority(actor: Actor, data: inputs.Reason, target: None) -> Outcome:
    canceled = lifecycle.jobs_cancel_low_priority(actor=actor, reason=data.reason)
    return Outcome({"canceled": canceled}, f"canceled {canceled} low-priority jobs")


def dlq_retry(actor: Actor, data: inputs.OptionalReason, job_id) -> Outcome:
    new = dlq.dlq_retry(actor=actor, job_id=job_id, reason=data.reason)
    return Outcome({"job": job_to_dict(new)}, f"retried job {job_id} as new job {new.id}", 201)


def dlq_retry_edited(actor: Actor, data: inputs.EditedRetry, job_id) -> Outcome:
    new = dlq.dlq_retry_edited(actor=actor, job_id=job_id, params=data.params, reason=data.reason)
    return Outcome({"job": job_to_dict(new)}, f"retried job {job_id} with edited params as new job {new.id}", 201)


def dlq_retry_all(actor: Actor, data: inputs.OptionalReason, fingerprint: str | None) -> Outcome:
    operation = operations.dlq_retry_all_start(actor=actor, reason=data.reason, fingerprint=fingerprint)
    which = f"the entries of group {fingerprint}" if fingerprint else "every entry"
    message = f"retrying {which} present now ({operation.total}) in the background: operation {operation.id}"
    return Outcome({"operation": operation_to_dict(operation)}, message, 202)


def operation_cancel(actor: Actor, data: inputs.Reason, operation_id) -> Outcome:
    operation = operations.operation_cancel(actor=actor, operation_id=operation_id, reason=data.reason)
    if operation.state == operation.State.CANCELED and operation.kind == "jobs.bulk_run":
        changed = operation.result.get("changed", 0)
        message = f"canceled operation {operation.id}: the {changed} jobs it acted on stay so; the rest are untouched"
    elif operation.state == operation.State.CANCELED:
        retried = operation.result.get("retried", 0)
        message = f"canceled operation {operation.id}: the {retried} entries it retried stay retried"
    else:
        message = f"canceling operation {operation.id}: it stops after the batch under way"
    # The operation itself, not {"operation": ...}: the doors follow that shape to a new operation's end.
    return Outcome(operation_to_dict(operation), message)


def audit_verify_all(actor: Actor, data: inputs.NoInput, target: None) -> Outcome:
    operation = operations.audit_verify_start(actor=actor)
    message = f"verifying the whole audit trail in the background: operation {operation.id}"
    return Outcome({"operation": operation_to_dict(operation)}, message, 202)


def dlq_clear(actor: Actor, data: inputs.Confirmed, target: None) -> Outcome:
    result = dlq.dlq_clear(actor=actor, reason=data.reason)
    return Outcome(result, f"removed {result['removed']} DLQ entries; export written to {result['export']}")


def dlq_discard(actor: Actor, data: inputs.Reason, job_id) -> Outcome:
    dlq.dlq_discard(actor=actor, job_id=job_id, reason=data.reason)
    return Outcome({"discarded": str(job_id)}, f"discarded job {job_id} from the DLQ; it stays failed")


def dlq_clean_expired(actor: Actor, data: inputs.NoInput, target: None) -> Outcome:
    removed = dlq.dlq_clean_expired(actor=actor)
    return Outcome({"removed": removed}, f"removed {removed} expired DLQ entries")


def worker_switch(enabled: bool) -> Perform:
    def switch(actor: Actor, data: inputs.Reason, target: None) -> Outcome:
        cfg = system.worker_set_enabled(actor=actor, enabled=enabled, reason=data.reason)
        state = "enabled: workers admit jobs again" if enabled else "disabled: running jobs finish, none start"
        return Outcome({"enabled": cfg.worker.enabled}, f"job system {state}")

    return switch


def force_fail_running(actor: Actor, data: inputs.Confirmed, target: None) -> Outcome:
    failed = lifecycle.jobs_force_fail_running(actor=actor, reason=data.reason)
    return Outcome({"failed": failed}, f"force-failed {failed} running jobs; they are in the DLQ")


# Above these, the work goes to a worker as a background operation (202 with its progress):
# no request waits for it, whatever the web server's time-out.
CLEAR_ALL_INLINE_MAX = 20_000  # jobs
IMPORT_INLINE_MAX = 2 * 1024 * 1024  # characters of JSONL


def clear_all(actor: Actor, data: inputs.Confirmed, target: None) -> Outcome:
    if selectors.job_total() > CLEAR_ALL_INLINE_MAX:
        operation = operations.clear_all_start(actor=actor, reason=data.reason)
        message = f"clearing all {operation.total} jobs in the background, export first: operation {operation.id}"
        return Outcome({"operation": operation_to_dict(operation)}, message, 202)
    result = lifecycle.jobs_clear_all(actor=actor, reason=data.reason)
    return Outcome(result, f"removed {result['removed']} jobs; export written to {result['export']}")


def change_config(actor: Actor, data: BaseModel, target: None) -> Outcome:
    changes = config_changes(data)
    cfg = config_update(actor=actor, changes=changes, reason=data.reason)  # type: ignore[attr-defined]
    return Outcome(cfg.as_dict(), f"configuration saved ({', '.join(changes) or 'nothing changed'})")


def import_jsonl(actor: Actor, data: inputs.JsonlImport, target: None) -> Outcome:
    from jobs.services.jsonl import import_answer, jsonl_import

    if len(data.text) > IMPORT_INLINE_MAX:
        operation = operations.jsonl_import_start(actor=actor, text=data.text, skip_bad_lines=data.skipBadLines)
        message = f"importing {operation.total} lines in the background: operation {operation.id}"
        return Outcome({"operation": operation_to_dict(operation)}, message, 202)
    answer = import_answer(jsonl_import(actor=actor, text=data.text, skip_bad_lines=data.skipBadLines))
    message = (
        f"imported {answer['imported']} jobs, {answer['duplicates']} already present, "
        f"{len(answer['skipped'])} bad lines skipped"
    )
    if answer["interrupted"]:
        message += f"; {answer['interrupted']} were running when exported: failed, in the DLQ, not run again"
    return Outcome(answer, message)


def four_eyes_confirm(actor: Actor, request_id, actions: Mapping[str, Any]) -> Outcome:
    """A second admin confirms: the asked-for action runs now, with the input that was asked for."""
    pending = selectors.action_request(request_id)
    action = actions[pending.action]
    # The confirmer needs the action's own permission too (refused and audited like any refusal).
    authorize(actor, action.permission, action=action.name, object_type=action.object_type)
    request = four_eyes.action_request_confirm(actor=actor, request_id=request_id)
    data = action.input.model_validate(request.input)
    try:
        outcome = action.perform(actor, data, request.target or None)
    except ServiceError as exc:
        four_eyes.action_request_finish(request, result=None, message=exc.message)
        raise
    four_eyes.action_request_finish(request, result=outcome.data, message=outcome.message)
    message = f"confirmed request {request.id} by {request.requested_by}: {outcome.message}"
    return Outcome({**outcome.data, "request": action_request_to_dict(request)}, message, outcome.status)


def four_eyes_reject(actor: Actor, data: inputs.Reason, request_id) -> Outcome:
    request = four_eyes.action_request_reject(actor=actor, request_id=request_id, reason=data.reason)
    return Outcome({"request": action_request_to_dict(request)}, f"rejected request {request.id} ({request.action})")


def four_eyes_request(action_name: str, title: str, actor: Actor, data: BaseModel, target: Any) -> Outcome:
    """Instead of running a destructive action: ask a second admin (JOBS_FOUR_EYES is on for it)."""
    request = four_eyes.action_request_create(
        actor=actor,
        action=action_name,
        target=target,
        data=data.model_dump(mode="json"),
        reason=str(getattr(data, "reason", "") or ""),
    )
    message = (
        f"{title} needs a second admin: request {request.id} waits for another admin's confirmation "
        f"until {request.expires_at:%H:%M:%S %Z}"
    )
    return Outcome({"request": action_request_to_dict(request)}, message, 202)


def queue_pause(actor: Actor, data: inputs.PauseTarget, target: None) -> Outcome:
    pause, queued = pauses.pause_set(
        actor=actor, entrypoint=data.entrypoint, priority=data.priority, reason=data.reason
    )
    message = f"paused {pause.what}: {queued} queued job{'' if queued == 1 else 's'} wait until it is resumed"
    return Outcome({"paused": pause_to_dict(pause, queued)}, message, 201)


def queue_resume(actor: Actor, data: inputs.PauseTarget, target: None) -> Outcome:
    what = data.entrypoint or f"{data.priority} priority"
    queued = pauses.pause_lift(actor=actor, entrypoint=data.entrypoint, priority=data.priority, reason=data.reason)
    message = f"resumed {what}: {queued} queued job{'' if queued == 1 else 's'} may start again"
    return Outcome({"resumed": what, "queued": queued}, message)
