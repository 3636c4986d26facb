"""Queue and store stats, health, workers, the job-system switch, emergencies, config."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from jobs import selectors
from jobs.api.common import actor, require_perm
from jobs.api.schemas import (
    CanceledOut,
    ClearAllIn,
    ConfigOut,
    ConfigPatchIn,
    EnabledOut,
    FailedOut,
    HealthOut,
    QueueStatsOut,
    ReasonIn,
    RemovedExportOut,
    StoreStatsOut,
    WorkersOut,
    errors,
)
from jobs.representations import worker_to_dict
from jobs.services import jobs, system
from jobs.services.config import config_get, config_update

router = Router(tags=["system"])


@router.get("/health", response={200: HealthOut, **errors()})
def health(request: HttpRequest):
    """system_health in the runbook's shape: status, issues, data.jobs.{store,queue,worker}."""
    require_perm(request)
    return selectors.system_health(config_get())


@router.get("/queue/stats", response={200: QueueStatsOut, **errors()})
def queue_stats(request: HttpRequest):
    """The runbook's queue.getStats(): backpressure and utilization."""
    require_perm(request)
    return selectors.queue_stats(config_get())


@router.post("/queue/cancel-low-priority", response={200: CanceledOut, **errors(400)})
def queue_cancel_low_priority(request: HttpRequest, payload: ReasonIn):
    """Backpressure relief: cancel every queued low-priority job."""
    return {"canceled": jobs.jobs_cancel_low_priority(actor=actor(request), reason=payload.reason)}


@router.get("/store/stats", response={200: StoreStatsOut, **errors()})
def store_stats(request: HttpRequest):
    """Counts of jobs by status."""
    require_perm(request)
    return selectors.store_stats()


@router.get("/workers", response={200: WorkersOut, **errors()})
def worker_list(request: HttpRequest):
    """Every worker process that reported a heartbeat; running = seen within three beats."""
    require_perm(request)
    return {"items": [worker_to_dict(worker) for worker in selectors.workers_listed(limit=1000)]}


@router.post("/worker/disable", response={200: EnabledOut, **errors(400)})
def worker_disable(request: HttpRequest, payload: ReasonIn):
    """Stop admitting jobs on every worker (worker.enabled = false); running jobs finish."""
    cfg = system.worker_set_enabled(actor=actor(request), enabled=False, reason=payload.reason)
    return {"enabled": cfg.worker.enabled}


@router.post("/worker/enable", response={200: EnabledOut, **errors(400)})
def worker_enable(request: HttpRequest, payload: ReasonIn):
    """Resume admitting jobs (worker.enabled = true)."""
    cfg = system.worker_set_enabled(actor=actor(request), enabled=True, reason=payload.reason)
    return {"enabled": cfg.worker.enabled}


@router.post("/emergency/force-fail-running", response={200: FailedOut, **errors(400)})
def emergency_force_fail_running(request: HttpRequest, payload: ReasonIn):
    """Emergency (admin): fail every running job; each goes to the DLQ."""
    return {"failed": jobs.jobs_force_fail_running(actor=actor(request), reason=payload.reason)}


@router.post("/emergency/clear-all", response={200: RemovedExportOut, **errors(400)})
def emergency_clear_all(request: HttpRequest, payload: ClearAllIn):
    """Emergency (admin): delete every job after writing them to a JSONL export."""
    outcome = jobs.jobs_clear_all(actor=actor(request), reason=payload.reason, confirm=payload.confirm)
    return {"removed": outcome["removed"], "export": outcome["export"]}


@router.get("/config", response={200: ConfigOut, **errors()})
def config_read(request: HttpRequest):
    """The effective jobs.json: defaults, then the JOBS_CONFIG file, then console changes."""
    require_perm(request)
    return config_get().as_dict()


@router.patch("/config", response={200: ConfigOut, **errors(400)})
def config_change(request: HttpRequest, payload: ConfigPatchIn):
    """Change some jobs.json settings (admin); the whole change is refused if one is invalid."""
    changes = payload.model_dump(exclude_unset=True, exclude_none=True, exclude={"reason"})
    cfg = config_update(actor=actor(request), changes=changes, reason=payload.reason.strip())
    return cfg.as_dict()
