"""Queue and store stats, health, workers, the job-system switch, emergencies, config."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status

from jobs import selectors
from jobs.actions import inputs
from jobs.api.common import action_route, answer, require_perm
from jobs.api.schemas import (
    CanceledOut,
    ConfigOut,
    EnabledOut,
    FailedOut,
    HealthOut,
    OperationStartedOut,
    PausedOut,
    PausePageOut,
    QueueStatsOut,
    RemovedExportOut,
    ResumedOut,
    StoreStatsOut,
    WorkersOut,
    errors,
)
from jobs.representations import pause_to_dict, worker_to_dict
from jobs.services.config import config_get

router = Router(tags=["system"])


@router.get("/health", response={200: HealthOut, 503: HealthOut, **errors(400)})
def health(request: HttpRequest, probe: bool = False):
    """system_health in the runbook's shape: status, issues, data.jobs.{store,queue,worker}.

    With ``?probe=true`` a degraded system answers 503 (same body), for a load balancer or
    a monitor that reads only the HTTP status."""
    require_perm(request)
    report = selectors.system_health(config_get())
    if probe and report["status"] != "healthy":
        return Status(503, report)
    return report


@router.get("/queue/stats", response={200: QueueStatsOut, **errors()})
def queue_stats(request: HttpRequest):
    """The runbook's queue.getStats(): backpressure and utilization."""
    require_perm(request)
    return selectors.queue_stats(config_get())


@action_route(router, "queue.cancel_low_priority", response={200: CanceledOut})
def queue_cancel_low_priority(request: HttpRequest, payload: inputs.Reason):
    """Backpressure relief: cancel every queued low-priority job."""
    return answer(request, "queue.cancel_low_priority", payload)


@router.get("/queue/pauses", response={200: PausePageOut, **errors()})
def queue_pauses(request: HttpRequest):
    """Paused entry points and priorities, with how many queued jobs each holds back."""
    require_perm(request)
    return {"items": [pause_to_dict(pause, queued) for pause, queued in selectors.pauses()]}


@action_route(router, "queue.pause", response={201: PausedOut}, codes=(400, 409))
def queue_pause(request: HttpRequest, payload: inputs.PauseTarget):
    """Hold back one entry point (or one priority): its jobs stay queued and count for backpressure."""
    return answer(request, "queue.pause", payload)


@action_route(router, "queue.resume", response={200: ResumedOut}, codes=(400, 404))
def queue_resume(request: HttpRequest, payload: inputs.PauseTarget):
    """Let a paused entry point (or priority) start again, in its order."""
    return answer(request, "queue.resume", payload)


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


@action_route(router, "worker.disable", response={200: EnabledOut})
def worker_disable(request: HttpRequest, payload: inputs.Confirmed):
    """Stop admitting jobs on every worker (worker.enabled = false); running jobs finish."""
    return answer(request, "worker.disable", payload)


@action_route(router, "worker.enable", response={200: EnabledOut})
def worker_enable(request: HttpRequest, payload: inputs.Reason):
    """Resume admitting jobs (worker.enabled = true)."""
    return answer(request, "worker.enable", payload)


@action_route(router, "emergency.force_fail_running", response={200: FailedOut})
def emergency_force_fail_running(request: HttpRequest, payload: inputs.Confirmed):
    """Emergency (admin): fail every running job; each goes to the DLQ."""
    return answer(request, "emergency.force_fail_running", payload)


@action_route(router, "emergency.clear_all", response={200: RemovedExportOut, 202: OperationStartedOut})
def emergency_clear_all(request: HttpRequest, payload: inputs.Confirmed):
    """Emergency (admin): delete every job after writing them to a JSONL export (confirm: "clear all jobs").

    Above 20,000 jobs it runs in the background: 202 with the operation to follow."""
    return answer(request, "emergency.clear_all", payload)


@router.get("/config", response={200: ConfigOut, **errors()})
def config_read(request: HttpRequest):
    """The effective jobs.json: defaults, then the JOBS_CONFIG file, then console changes."""
    require_perm(request)
    return config_get().as_dict()


@action_route(router, "config.update", response={200: ConfigOut})
def config_change(request: HttpRequest, payload: inputs.ConfigPatch):
    """Change some jobs.json settings (admin); the whole change is refused if one is invalid."""
    return answer(request, "config.update", payload)
