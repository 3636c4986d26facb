"""Long actions run by a worker with progress: retry all (or one group of) DLQ entries, verify the audit trail."""

from __future__ import annotations

import logging
import os
import socket
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
from jobs.models import AuditEntry, BackgroundOperation, DLQEntry, OperationInput
from jobs.services.audit import Actor, audit_record, audit_verify, authorize
from jobs.services.dlq import dlq_retry_entries
from jobs.services.errors import Backpressure, NotFound
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


def _retry_entries_present_at_start(operation: BackgroundOperation, actor: Actor) -> None:
    """Walk the DLQ in (added_at, job_id) order, one set-based batch per transaction.

    Only the entries there when it was asked for: a retried job that fails again
    comes back into the DLQ, and must not keep the operation going. Progress is
    saved after each batch, so a failure leaves it showing how far it got.
    """
    params = operation.params
    entries = _entries(params.get("fingerprint")).filter(added_at__lte=operation.created_at)
    # Resumed after its worker died: the entries it retried have left the DLQ; count on.
    retried, after = operation.result.get("retried", 0), None
    BackgroundOperation.objects.filter(id=operation.id).update(result={"retried": retried})
    while batch := list(
        (entries.filter(_after(after)) if after else entries).values_list("added_at", "job_id")[:BATCH_SIZE]
    ):
        # A batch and the progress that counts it commit together, so that a resumed
        # operation counts on from exactly what was done.
        with transaction.atomic():
            outcome = dlq_retry_entries(
                actor=actor,
                job_ids=[job_id for _, job_id in batch],
                reason=params.get("reason", ""),
                action=operation.kind,
            )
            retried += len(outcome.new_ids)
            # Nothing dealt with: the whole batch was taken by another retry meanwhile.
            after = outcome.resume_after or batch[-1]
            BackgroundOperation.objects.filter(id=operation.id).update(
                done=max(operation.total - entries.filter(_after(after)).count(), 0),
                result={"retried": retried},
                updated_at=timezone.now(),
            )


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


@dataclass(frozen=True)
class OperationKind:
    """What a kind of operation needs: the permission its requester must still hold, and its work."""

    permission: str
    object_type: str
    run: Callable[[BackgroundOperation, Actor], None]


KINDS = {
    "dlq.retry_all": OperationKind("jobs.retry_job", "dlq", _retry_entries_present_at_start),
    "dlq.retry_group": OperationKind("jobs.retry_job", "dlq", _retry_entries_present_at_start),
    "audit.verify": OperationKind("jobs.view_audit", "audit", _verify_whole_trail),
    "emergency.clear_all": OperationKind("jobs.emergency", "job", _clear_all),
    "jobs.import": OperationKind("jobs.import_jobs", "job", _import),
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
