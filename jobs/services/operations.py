"""Long actions run by a worker with progress: retry all (or one group of) DLQ entries."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from jobs.models import BackgroundOperation, DLQEntry
from jobs.services.audit import Actor, authorize
from jobs.services.dlq import dlq_retry_batch
from jobs.services.errors import Backpressure, NotFound

logger = logging.getLogger("jobs.operations")

BATCH_SIZE = 100


def _entries(fingerprint: str | None):
    entries = DLQEntry.objects.order_by("added_at", "job_id")
    return entries.filter(fingerprint=fingerprint) if fingerprint else entries


def dlq_retry_all_start(*, actor: Actor, reason: str = "", fingerprint: str | None = None) -> BackgroundOperation:
    """Start retrying every DLQ entry (or one fingerprint group) in the background."""
    action = "dlq.retry_group" if fingerprint else "dlq.retry_all"
    authorize(actor, "jobs.retry_job", action=action, object_type="dlq")
    with transaction.atomic():
        operation = BackgroundOperation.objects.create(
            kind=action,
            total=_entries(fingerprint).count(),
            params={
                "reason": reason,
                "fingerprint": fingerprint,
                "actor": actor.name,
                "userId": actor.user.pk if actor.user is not None else None,
                "source": actor.source,
                "ip": actor.ip,
                "userAgent": actor.user_agent,
            },
            requested_by=actor.name,
        )
        transaction.on_commit(lambda: _publish(operation.id))
    return operation


def _publish(operation_id) -> None:
    from jobs.tasks import run_operation

    try:
        run_operation.apply_async(args=[str(operation_id)], retry=False)
    except Exception as exc:  # the reconciler starts pending operations later
        logger.warning("could not publish operation %s (%s)", operation_id, exc)


def _requester(params: dict) -> Actor:
    """The actor who started the operation, with the role they hold now."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=params.get("userId")).first() if params.get("userId") else None
    return Actor(
        name=params.get("actor", "system"),
        source=params.get("source", "system"),
        user=user,
        ip=params.get("ip", ""),
        user_agent=params.get("userAgent", ""),
    )


def operation_run(operation_id, *, actor: Actor | None = None) -> BackgroundOperation:
    """Run a pending operation to the end, batch by batch. Safe to call twice."""
    claimed = BackgroundOperation.objects.filter(id=operation_id, state=BackgroundOperation.State.PENDING).update(
        state=BackgroundOperation.State.RUNNING, updated_at=timezone.now()
    )
    operation = BackgroundOperation.objects.filter(id=operation_id).first()
    if operation is None:
        raise NotFound(f"operation {operation_id} not found")
    if not claimed:
        return operation
    params = operation.params
    actor = actor or _requester(params)
    retried: list[str] = []
    # Only the entries there when it was asked for: a retried job that fails
    # again comes back into the DLQ, and must not keep the operation going.
    entries = _entries(params.get("fingerprint")).filter(added_at__lte=operation.created_at)
    try:
        while batch := list(entries.values_list("job_id", flat=True)[:BATCH_SIZE]):
            new_ids = dlq_retry_batch(
                actor=actor, job_ids=batch, reason=params.get("reason", ""), action=operation.kind
            )
            retried.extend(new_ids)
            BackgroundOperation.objects.filter(id=operation.id).update(
                done=Greatest(F("total") - entries.count(), 0), updated_at=timezone.now()
            )
        state, error = BackgroundOperation.State.DONE, ""
    except Backpressure as exc:
        state, error = BackgroundOperation.State.FAILED, f"stopped: {exc.message}"
    except Exception as exc:
        logger.exception("operation %s failed", operation.id)
        state, error = BackgroundOperation.State.FAILED, str(exc)
    BackgroundOperation.objects.filter(id=operation.id).update(
        state=state, error=error, result={"retried": len(retried)}, updated_at=timezone.now()
    )
    operation.refresh_from_db()
    return operation
