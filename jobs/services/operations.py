"""Long actions run by a worker with progress: retry all (or one group of) DLQ entries, verify the audit trail.

A retry-all paces itself below the backpressure threshold: it queues only what fits
below ``paced_limit`` (a tenth under the threshold's count), and when nothing fits it
lets go of its worker and waits (state ``waiting``, its progress kept). The reconciler
hands it to a worker again once the queue has room, so it ends ``done`` with every
entry present at the start retried, however full the queue was. A queue that never
drains (the job system disabled, no worker alive) keeps it waiting, at no cost but a
count per reconciler tick, until the queue drains or an operator cancels it
(``operation_cancel``): a canceled operation stops between batches and keeps what it did.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs import selectors
from jobs.engine.wakeups import publish_operation_after_commit
from jobs.models import (
    CANCELABLE_OPERATION_KINDS,
    AuditEntry,
    BackgroundOperation,
    BulkSelection,
    DLQEntry,
    Job,
    OperationInput,
)
from jobs.services import bulk
from jobs.services.audit import Actor, audit_record, audit_verify, authorize, required_reason
from jobs.services.backpressure import paced_limit, room_below_pace
from jobs.services.config import config_get
from jobs.services.dlq import dlq_retry_entries
from jobs.services.errors import Backpressure, Conflict, NotFound
from jobs.services.lifecycle import jobs_clear_all, refuse_while_jobs_run

logger = logging.getLogger("jobs.operations")

# Entries per transaction: set-based, so a batch costs a few statements whatever its size.
BATCH_SIZE = 2000


def _entries(fingerprint: str | None):
    entries = DLQEntry.objects.order_by("added_at", "job_id")
    return entries.filter(fingerprint=fingerprint) if fingerprint else entries


def dlq_retry_all_start(
    *, actor: Actor, reason: str = "", fingerprint: str | None = None, background: bool = True
) -> BackgroundOperation:
    """Start retrying every DLQ entry (or one fingerprint group) in the background.

    ``background=False`` only records it, for a caller that runs it itself (the benchmarks).
    """
    action = "dlq.retry_group" if fingerprint else "dlq.retry_all"
    with transaction.atomic():
        return _start(
            actor,
            action,
            total=_entries(fingerprint).count(),
            params={"reason": reason, "fingerprint": fingerprint},
            background=background,
        )


def audit_verify_start(*, actor: Actor, background: bool = True) -> BackgroundOperation:
    """Start verifying the whole audit trail, every chain from its first entry, in the background."""
    with transaction.atomic():
        operation = _start(actor, "audit.verify", total=AuditEntry.objects.count(), params={}, background=background)
        audit_record(actor, action="audit.verify", object_type="audit", object_ids=[operation.id])
    return operation


def clear_all_start(*, actor: Actor, reason: str) -> BackgroundOperation:
    """Start the emergency clear-all in the background (export then delete, in one transaction there).

    Refused at once while jobs run, as the clear itself would be (it checks again, under its locks).
    """
    refuse_while_jobs_run()
    with transaction.atomic():
        return _start(actor, "emergency.clear_all", total=selectors.job_total(), params={"reason": reason})


def jsonl_import_start(*, actor: Actor, text: str, skip_bad_lines: bool) -> BackgroundOperation:
    """Start an import of a JSONL upload in the background; the upload waits in the database."""
    with transaction.atomic():
        operation = _start(actor, "jobs.import", total=text.count("\n") + 1, params={"skipBadLines": skip_bad_lines})
        OperationInput.objects.create(operation=operation, data=text.encode())
    return operation


def bulk_run_start(*, actor: Actor, selection_id, reason: str, background: bool = True) -> BackgroundOperation:
    """Run a frozen selection (jobs.bulk_freeze) in the background: exactly its ids, in batches.

    Its kind's permission is checked first (force-fail is an admin's); only its creator
    may run it, once, before it expires (409 otherwise).
    """
    reason = required_reason(reason)
    kind = bulk.selection_kind(selection_id)
    authorize(actor, bulk.PERMISSIONS[kind], action="jobs.bulk_run", object_type="selection")
    with transaction.atomic():
        selection = bulk.selection_for_run(actor=actor, selection_id=selection_id)
        operation = _start(
            actor,
            "jobs.bulk_run",
            total=selection.total,
            params={"reason": reason, "selection": str(selection.id), "action": selection.action},
            background=background,
        )
        bulk.selection_started(actor=actor, selection=selection, operation_id=operation.id, reason=reason)
    return operation


def _start(actor: Actor, kind: str, *, total: int, params: dict, background: bool = True) -> BackgroundOperation:
    """Record the operation, with who asked, and hand it to a worker once the transaction commits."""
    operation = BackgroundOperation.objects.create(
        kind=kind,
        total=total,
        params={
            **params,
            "actor": actor.name,
            "userId": actor.user.pk if actor.user is not None else None,
            "source": actor.source,
            "ip": actor.ip,
            "userAgent": actor.user_agent,
        },
        requested_by=actor.name,
    )
    if background:
        publish_operation_after_commit(operation.id)
    return operation


def _requester(params: dict) -> Actor:
    """The actor who started the operation, with the role they hold now."""
    from django.contrib.auth import get_user_model

    user_id = params.get("userId")
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return Actor(
        name=params.get("actor", "system"),
        source=params.get("source", "system"),
        user=user,
        ip=params.get("ip", ""),
        user_agent=params.get("userAgent", ""),
    )


class _WaitingForRoom(Exception):
    """Nothing more fits below the pace: let go of the worker until the queue has room."""


class _Canceled(Exception):
    """An operator asked the operation to stop: it stops between batches."""


def _stop_if_canceled(operation: BackgroundOperation) -> None:
    if BackgroundOperation.objects.filter(id=operation.id, cancel_requested_at__isnull=False).exists():
        raise _Canceled()


def _retry_entries_present_at_start(operation: BackgroundOperation, actor: Actor) -> None:
    """Walk the DLQ in (added_at, job_id) order, one set-based batch per transaction.

    Only the entries there when it was asked for: a retried job that fails again
    comes back into the DLQ, and must not keep the operation going. Progress is
    saved after each batch, so a failure leaves it showing how far it got. Each
    batch queues only what fits below the pace (``room_below_pace``); when nothing
    fits it raises _WaitingForRoom, and the reconciler resumes it later.
    """
    params = operation.params
    entries = _entries(params.get("fingerprint")).filter(added_at__lte=operation.created_at)
    # Resumed (after waiting for room, or after its worker died): the entries it retried
    # have left the DLQ; count on.
    retried, after = operation.result.get("retried", 0), None
    BackgroundOperation.objects.filter(id=operation.id).update(result={"retried": retried})
    while batch := list(
        (entries.filter(_after(after)) if after else entries).values_list("added_at", "job_id")[:BATCH_SIZE]
    ):
        _stop_if_canceled(operation)
        # A batch and the progress that counts it commit together, so that a resumed
        # operation counts on from exactly what was done.
        with transaction.atomic():
            room = room_below_pace(wanted=len(batch))
            if room == 0:
                raise _WaitingForRoom()
            outcome = dlq_retry_entries(
                actor=actor,
                job_ids=[job_id for _, job_id in batch],
                reason=params.get("reason", ""),
                action=operation.kind,
                room=room,
            )
            retried += len(outcome.new_ids)
            # Nothing dealt with: the whole batch was taken by another retry meanwhile.
            after = outcome.resume_after or batch[-1]
            BackgroundOperation.objects.filter(id=operation.id).update(
                done=max(operation.total - entries.filter(_after(after)).count(), 0),
                result={"retried": retried},
                updated_at=timezone.now(),
            )


def _run_selection(operation: BackgroundOperation, actor: Actor) -> None:
    """Walk the frozen ids of a selection in order, one batch per transaction with its progress.

    Ids no longer reachable (ended, retried or taken out of the DLQ meanwhile) are
    skipped and counted. A retry is paced as a retry-all is: it queues only what fits
    below the pace, and waits for room (_WaitingForRoom) when nothing does. The last
    audit entry, written when the walk ends or is canceled, gives the counts.
    """
    selection = BulkSelection.objects.get(id=operation.params["selection"])
    # The requester must still hold the permission of this kind (force-fail: admin).
    authorize(actor, bulk.PERMISSIONS[selection.action], action=operation.kind, object_type="selection")
    reason = operation.params.get("reason", "")
    result = {"changed": 0, "skipped": 0, "position": 0, **operation.result}
    try:
        while result["position"] < selection.total:
            _stop_if_canceled(operation)
            with transaction.atomic():
                batch = selection.frozen_ids(result["position"], result["position"] + BATCH_SIZE)
                room = None
                if selection.action == BulkSelection.Kind.RETRY:
                    room = room_below_pace(wanted=len(batch))
                    if room == 0:
                        raise _WaitingForRoom()
                    batch = batch[:room]
                changed = bulk.bulk_apply(actor=actor, selection=selection, job_ids=batch, reason=reason, room=room)
                result = {
                    "changed": result["changed"] + changed,
                    "skipped": result["skipped"] + len(batch) - changed,
                    "position": result["position"] + len(batch),
                }
                BackgroundOperation.objects.filter(id=operation.id).update(
                    done=result["position"], result=result, updated_at=timezone.now()
                )
    except _Canceled:
        with transaction.atomic():
            bulk.selection_finished(actor=actor, selection=selection, result=result, state="canceled")
        raise
    with transaction.atomic():
        bulk.selection_finished(actor=actor, selection=selection, result=result, state="done")


def _verify_whole_trail(operation: BackgroundOperation, actor: Actor) -> None:
    """Walk every chain from its start; the result says whether the trail holds, and where not."""

    def progress(checked: int) -> None:
        BackgroundOperation.objects.filter(id=operation.id).update(
            done=min(checked, operation.total), updated_at=timezone.now()
        )

    report = audit_verify(progress=progress)
    BackgroundOperation.objects.filter(id=operation.id).update(
        done=report.checked,
        total=max(operation.total, report.checked),
        result={"ok": report.ok, "checked": report.checked, "brokenAt": report.broken_at, "problem": report.problem},
        updated_at=timezone.now(),
    )


def _clear_all(operation: BackgroundOperation, actor: Actor) -> None:
    result = jobs_clear_all(actor=actor, reason=operation.params.get("reason", ""))
    BackgroundOperation.objects.filter(id=operation.id).update(
        done=result["removed"], total=result["removed"], result=result, updated_at=timezone.now()
    )


def _import(operation: BackgroundOperation, actor: Actor) -> None:
    from jobs.services.jsonl import import_answer, jsonl_import

    upload = OperationInput.objects.get(operation=operation)
    report = jsonl_import(
        actor=actor, text=bytes(upload.data).decode(), skip_bad_lines=operation.params.get("skipBadLines", False)
    )
    with transaction.atomic():
        BackgroundOperation.objects.filter(id=operation.id).update(
            done=operation.total, result=import_answer(report), updated_at=timezone.now()
        )
        upload.delete()


def _selection_canceled_unrun(operation: BackgroundOperation, actor: Actor) -> None:
    """A bulk run canceled before a worker took it: the run's last word, with its counts so far."""
    selection = BulkSelection.objects.defer("ids").get(operation=operation)
    bulk.selection_finished(actor=actor, selection=selection, result=operation.result, state="canceled")


@dataclass(frozen=True)
class OperationKind:
    """What a kind of operation needs: the permission its requester must still hold, and its work.

    ``canceled_unrun`` is what the kind records when it is canceled while no worker holds it.
    """

    permission: str
    object_type: str
    run: Callable[[BackgroundOperation, Actor], None]
    canceled_unrun: Callable[[BackgroundOperation, Actor], None] | None = None


KINDS = {
    "dlq.retry_all": OperationKind("jobs.retry_job", "dlq", _retry_entries_present_at_start),
    "dlq.retry_group": OperationKind("jobs.retry_job", "dlq", _retry_entries_present_at_start),
    "audit.verify": OperationKind("jobs.view_audit", "audit", _verify_whole_trail),
    "emergency.clear_all": OperationKind("jobs.emergency", "job", _clear_all),
    "jobs.import": OperationKind("jobs.import_jobs", "job", _import),
    # Cancel's permission here; the walk checks its own kind's too (retry, force-fail).
    "jobs.bulk_run": OperationKind("jobs.cancel_job", "selection", _run_selection, _selection_canceled_unrun),
}


def _after(key: tuple) -> Q:
    added_at, job_id = key
    return Q(added_at__gt=added_at) | Q(added_at=added_at, job_id__gt=job_id)


def operation_run(operation_id, *, actor: Actor | None = None, worker: str = "") -> BackgroundOperation:
    """Run a pending operation to the end, batch by batch. Safe to call twice.

    It takes a lease as a job does; ``worker`` (the process's runtime name) renews
    it from its heartbeat, and the reconciler sends an operation whose lease ran
    out back to pending, to resume where it stopped.
    """
    now = timezone.now()
    claimed = BackgroundOperation.objects.filter(id=operation_id, state=BackgroundOperation.State.PENDING).update(
        state=BackgroundOperation.State.RUNNING,
        worker=worker or f"{socket.gethostname()}:{os.getpid()}",
        lease_expires_at=now + timedelta(seconds=settings.JOBS_LEASE_SECONDS),
        updated_at=now,
    )
    operation = BackgroundOperation.objects.filter(id=operation_id).first()
    if operation is None:
        raise NotFound(f"operation {operation_id} not found")
    if not claimed:
        return operation
    kind = KINDS[operation.kind]
    actor = actor or _requester(operation.params)
    try:
        # A worker may run it long after it was asked for: the requester must still hold the role.
        authorize(actor, kind.permission, action=operation.kind, object_type=kind.object_type)
        kind.run(operation, actor)
        state, error = BackgroundOperation.State.DONE, ""
    except _WaitingForRoom:
        return _wait_for_room(operation)
    except _Canceled:
        state, error = BackgroundOperation.State.CANCELED, ""
    except PermissionDenied as exc:
        state, error = BackgroundOperation.State.FAILED, f"refused: {exc}"
    except Backpressure as exc:
        state, error = BackgroundOperation.State.FAILED, f"stopped: {exc.message}"
    except Exception as exc:
        logger.exception("operation %s failed", operation.id)
        state, error = BackgroundOperation.State.FAILED, str(exc)
    BackgroundOperation.objects.filter(id=operation.id).update(
        state=state, error=error, worker="", lease_expires_at=None, updated_at=timezone.now()
    )
    operation.refresh_from_db()
    return operation


def _wait_for_room(operation: BackgroundOperation) -> BackgroundOperation:
    """Let go of the worker, progress kept; canceled instead if an operator asked meanwhile."""
    now = timezone.now()
    mine = BackgroundOperation.objects.filter(id=operation.id, state=BackgroundOperation.State.RUNNING)
    operation.refresh_from_db(fields=["result"])
    waiting = mine.filter(cancel_requested_at__isnull=True).update(
        state=BackgroundOperation.State.WAITING,
        result={**operation.result, "waitingSince": now.isoformat()},
        worker="",
        lease_expires_at=None,
        updated_at=now,
    )
    if not waiting:
        mine.update(state=BackgroundOperation.State.CANCELED, worker="", lease_expires_at=None, updated_at=now)
    operation.refresh_from_db()
    return operation


def operations_resume_waiting(now) -> int:
    """Operations waiting for room, once the queue has some below the pace: pending again, published.

    The reconciler calls it each tick; a queue still full costs one bounded count.
    """
    waiting = list(
        BackgroundOperation.objects.filter(state=BackgroundOperation.State.WAITING)
        .order_by("updated_at")
        .values_list("id", flat=True)[:10]
    )
    if not waiting:
        return 0
    pace = paced_limit(config_get())
    if Job.objects.queued()[:pace].count() >= pace:
        return 0
    resumed = 0
    for operation_id in waiting:
        still_waiting = BackgroundOperation.objects.filter(id=operation_id, state=BackgroundOperation.State.WAITING)
        if still_waiting.update(state=BackgroundOperation.State.PENDING, updated_at=now):
            publish_operation_after_commit(operation_id)
            resumed += 1
    return resumed


def operation_cancel(*, actor: Actor, operation_id, reason: str) -> BackgroundOperation:
    """Stop a retry-all (a group's, or a bulk run): at once when no worker holds it (pending,
    waiting), between two batches when one does. What it did stays done; 409 once it has ended."""
    reason = required_reason(reason)
    try:
        operation_id = uuid.UUID(str(operation_id))
    except ValueError:
        raise NotFound(f"operation {operation_id} not found") from None
    with transaction.atomic():
        operation = BackgroundOperation.objects.select_for_update().filter(id=operation_id).first()
        if operation is None:
            raise NotFound(f"operation {operation_id} not found")
        if operation.is_final:
            raise Conflict(f"operation {operation.id} has already ended ({operation.state})")
        if operation.kind not in CANCELABLE_OPERATION_KINDS:
            raise Conflict(f"a {operation.kind} operation runs as one transaction and cannot be canceled")
        if operation.cancel_requested_at is not None:
            raise Conflict(f"operation {operation.id} is already being canceled")
        before = {"state": operation.state, "done": operation.done, "total": operation.total}
        now = timezone.now()
        operation.cancel_requested_at, operation.canceled_by, operation.cancel_reason = now, actor.name, reason
        if operation.state != BackgroundOperation.State.RUNNING:
            operation.state = BackgroundOperation.State.CANCELED
        operation.updated_at = now
        operation.save(update_fields=["cancel_requested_at", "canceled_by", "cancel_reason", "state", "updated_at"])
        audit_record(
            actor,
            action="operation.cancel",
            object_type="operation",
            object_ids=[operation.id],
            reason=reason,
            before=before,
            after={"state": operation.state, "retried": operation.result.get("retried", 0)},
        )
        canceled_unrun = KINDS[operation.kind].canceled_unrun
        if operation.state == BackgroundOperation.State.CANCELED and canceled_unrun is not None:
            canceled_unrun(operation, actor)  # no worker holds it, so none will write its last word
    return operation


def operations_resume_abandoned(now) -> int:
    """Running operations whose lease ran out (their worker died): pending again, published again."""
    abandoned = list(
        BackgroundOperation.objects.filter(
            state=BackgroundOperation.State.RUNNING, lease_expires_at__lt=now
        ).values_list("id", flat=True)[:10]
    )
    resumed = BackgroundOperation.objects.filter(
        id__in=abandoned, state=BackgroundOperation.State.RUNNING, lease_expires_at__lt=now
    ).update(state=BackgroundOperation.State.PENDING, worker="", lease_expires_at=None, updated_at=now)
    for operation_id in abandoned:
        logger.warning("operation %s lost its worker; resuming it", operation_id)
        publish_operation_after_commit(operation_id)
    return resumed
