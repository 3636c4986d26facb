"""Every runbook action, declared once: who may, what it takes, what it does, where it is offered.

The console, the API and the CLI are doors onto this catalog: each finds an
action here by name, and ``jobs.actions.perform`` authorizes, validates and runs
it the same way for all three. An action's name is also its audit action.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from jobs.actions import effects, inputs, previews
from jobs.actions.effects import Outcome, Perform

__all__ = ["ACTIONS", "Action", "ConsoleDoor", "Outcome"]


@dataclass(frozen=True)
class ConsoleDoor:
    path: str  # under the console's root, with <uuid:target> or <str:target> for the target
    url_name: str
    back: str  # the page shown afterwards; it takes the target when the path does
    back_with_target: bool = False  # the page afterwards is the target's own (a job's page)
    # False where a page of its own serves the action (the settings form shows its errors by its fields).
    generic: bool = True


@dataclass(frozen=True)
class Action:
    name: str
    title: str
    runbook: str  # the runbook section it serves
    permission: str
    object_type: str
    input: type[BaseModel]
    perform: Perform
    # A destructive action's phrase, typed out at the console and the CLI. The API
    # asks for it only where its contract names it (``confirm_over_api``).
    confirm: str = ""
    confirm_over_api: bool = False
    target: str = ""  # what the path names: "job" (a job id) or "fingerprint"
    console: ConsoleDoor | None = None
    api: str = ""  # "POST /api/..."
    cli: str = ""  # "dlq clear"
    # Destructive: with four eyes on (JOBS_FOUR_EYES), a second admin confirms before it runs.
    four_eyes: bool = False
    # A bulk action counts what it will hit; the console shows that and asks to confirm (see previews).
    preview: previews.PreviewOf | None = None

    @property
    def doors(self) -> list[str]:
        return [door for door in ("console", "api", "cli") if getattr(self, door)]

    @property
    def api_method(self) -> str:
        return self.api.split()[0]

    @property
    def api_path(self) -> str:
        """The path under /api/, in django-ninja's {name} form."""
        return self.api.split()[1].removeprefix("/api")


DLQ_CLEAR_CONFIRMATION = "clear the dlq"
FORCE_FAIL_CONFIRMATION = "force fail running"
DISABLE_CONFIRMATION = "disable job system"
CLEAR_ALL_CONFIRMATION = "clear all jobs"


def _job_door(path: str, url_name: str, back: str = "jobs:job-detail") -> ConsoleDoor:
    return ConsoleDoor(f"jobs/<uuid:target>/{path}", url_name, back, back_with_target=back == "jobs:job-detail")


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in [
        Action(
            name="job.submit",
            title="Submit a job",
            runbook="Submitting jobs",
            permission="jobs.submit_job",
            object_type="job",
            input=inputs.Submission,
            perform=effects.submit,
            api="POST /api/jobs",
            cli="submit",
        ),
        Action(
            name="job.submit_batch",
            title="Submit up to 1000 jobs at once",
            runbook="Submitting jobs",
            permission="jobs.submit_job",
            object_type="job",
            input=inputs.SubmissionBatch,
            perform=effects.submit_batch,
            api="POST /api/jobs/batch",
        ),
        Action(
            name="job.cancel",
            title="Cancel a job",
            runbook="Backpressure: cancel low-priority jobs (`queue.cancel`)",
            permission="jobs.cancel_job",
            object_type="job",
            input=inputs.Reason,
            perform=effects.cancel,
            target="job",
            console=_job_door("cancel", "job-cancel"),
            api="POST /api/jobs/{id}/cancel",
            cli="cancel",
        ),
        Action(
            name="jobs.cancel",
            title="Cancel the selected jobs",
            runbook="Backpressure: cancel low-priority jobs (`queue.cancel`)",
            permission="jobs.cancel_job",
            object_type="job",
            input=inputs.BulkCancel,
            perform=effects.cancel_selected,
            preview=previews.cancel_selected,
            console=ConsoleDoor("jobs/cancel", "jobs-cancel", "jobs:job-list"),
        ),
        Action(
            name="jobs.bulk_freeze",
            title="Freeze the jobs a bulk action would hit (dry run)",
            runbook="Bulk cancel, retry or force-fail on a filter: the dry run",
            permission="jobs.cancel_job",  # and the kind's own: retry_job, force_fail_job (admin)
            object_type="selection",
            input=inputs.BulkFreeze,
            perform=effects.bulk_freeze,
            # Its own view: it answers the dry-run page of the selection it froze.
            console=ConsoleDoor("jobs/bulk", "bulk-freeze", "jobs:job-list", generic=False),
            api="POST /api/jobs/bulk",
            cli="bulk freeze",
        ),
        Action(
            name="jobs.bulk_run",
            title="Run a frozen bulk selection in the background",
            runbook="Bulk cancel, retry or force-fail on a filter: the run",
            permission="jobs.cancel_job",  # and the kind's own: retry_job, force_fail_job (admin)
            object_type="selection",
            input=inputs.Reason,
            perform=effects.bulk_run,
            target="selection",
            console=ConsoleDoor("jobs/bulk/<uuid:target>/run", "bulk-run", "jobs:bulk-detail", back_with_target=True),
            api="POST /api/jobs/bulk/{id}/run",
            cli="bulk run",
        ),
        Action(
            name="job.force_fail",
            title="Force-fail a job",
            runbook="Emergency: force fail running jobs (one job)",
            permission="jobs.force_fail_job",
            object_type="job",
            input=inputs.Reason,
            perform=effects.force_fail,
            target="job",
            console=_job_door("force-fail", "job-force-fail"),
            api="POST /api/jobs/{id}/fail",
            cli="fail",
        ),
        Action(
            name="job.approve",
            title="Approve a waiting job",
            runbook="Approval issues: manually approve",
            permission="jobs.approve_job",
            object_type="job",
            input=inputs.OptionalReason,
            perform=effects.approve,
            target="job",
            console=_job_door("approve", "job-approve", "jobs:approval-list"),
            api="POST /api/jobs/{id}/approve",
            cli="approvals approve",
        ),
        Action(
            name="job.reject",
            title="Reject a waiting job",
            runbook="Approval issues: manually approve",
            permission="jobs.approve_job",
            object_type="job",
            input=inputs.Reason,
            perform=effects.reject,
            target="job",
            console=_job_door("reject", "job-reject", "jobs:approval-list"),
            api="POST /api/jobs/{id}/reject",
            cli="approvals reject",
        ),
        Action(
            name="approval.check",
            title="Force an approval check",
            runbook="Approval issues: manual approval check (`watcher.forceCheck`)",
            permission="jobs.check_approval",
            object_type="job",
            input=inputs.NoInput,
            perform=effects.check_approval,
            target="job",
            console=_job_door("check-approval", "job-check-approval", "jobs:approval-list"),
            api="POST /api/jobs/{id}/check-approval",
            cli="approvals check",
        ),
        Action(
            name="queue.cancel_low_priority",
            title="Cancel queued low-priority jobs",
            runbook="Backpressure: cancel low-priority jobs",
            permission="jobs.cancel_job",
            object_type="job",
            input=inputs.Reason,
            perform=effects.cancel_low_priority,
            preview=previews.cancel_low_priority,
            console=ConsoleDoor("backpressure/cancel-low-priority", "queue-cancel-low-priority", "jobs:backpressure"),
            api="POST /api/queue/cancel-low-priority",
            cli="cancel-low-priority",
        ),
        Action(
            name="queue.pause",
            title="Pause one entry point or one priority",
            runbook="Backpressure: hold back one kind of work (beside disabling everything)",
            permission="jobs.cancel_job",
            object_type="queue",
            input=inputs.PauseTarget,
            perform=effects.queue_pause,
            console=ConsoleDoor("backpressure/pause", "queue-pause", "jobs:backpressure"),
            api="POST /api/queue/pause",
            cli="pause",
        ),
        Action(
            name="queue.resume",
            title="Resume a paused entry point or priority",
            runbook="Backpressure: hold back one kind of work (beside disabling everything)",
            permission="jobs.cancel_job",
            object_type="queue",
            input=inputs.PauseTarget,
            perform=effects.queue_resume,
            console=ConsoleDoor("backpressure/resume", "queue-resume", "jobs:backpressure"),
            api="POST /api/queue/resume",
            cli="resume",
        ),
        Action(
            name="dlq.retry",
            title="Retry one DLQ entry",
            runbook="DLQ: retry individual jobs (`queue.retryFromDLQ`)",
            permission="jobs.retry_job",
            object_type="job",
            input=inputs.OptionalReason,
            perform=effects.dlq_retry,
            target="job",
            console=ConsoleDoor("dlq/<uuid:target>/retry", "dlq-retry", "jobs:dlq-list"),
            api="POST /api/dlq/{jobId}/retry",
            cli="dlq retry",
        ),
        Action(
            name="dlq.retry_edited",
            title="Retry one DLQ entry with edited params",
            runbook="DLQ: common causes (invalid parameters: fix params, retry with new job)",
            permission="jobs.retry_job",
            object_type="job",
            input=inputs.EditedRetry,
            perform=effects.dlq_retry_edited,
            target="job",
            console=ConsoleDoor("dlq/<uuid:target>/retry-edited", "dlq-retry-edited", "jobs:dlq-list", generic=False),
            api="POST /api/dlq/{jobId}/retry-edited",
            cli="dlq retry-edited",
        ),
        Action(
            name="dlq.retry_all",
            title="Retry every DLQ entry",
            runbook="DLQ: retry all DLQ jobs",
            permission="jobs.retry_job",
            object_type="dlq",
            input=inputs.OptionalReason,
            perform=lambda actor, data, target: effects.dlq_retry_all(actor, data, None),
            preview=previews.dlq_retry_all,
            console=ConsoleDoor("dlq/retry-all", "dlq-retry-all", "jobs:dlq-list"),
            api="POST /api/dlq/retry-all",
            cli="dlq retry-all",
        ),
        Action(
            name="dlq.retry_group",
            title="Retry the DLQ entries of one error group",
            runbook="DLQ: retry all DLQ jobs (one common cause)",
            permission="jobs.retry_job",
            object_type="dlq",
            input=inputs.OptionalReason,
            perform=effects.dlq_retry_all,
            preview=previews.dlq_retry_all,
            target="fingerprint",
            console=ConsoleDoor("dlq/groups/<str:target>/retry", "dlq-retry-group", "jobs:dlq-list"),
            cli="dlq retry-group",
        ),
        Action(
            name="operation.cancel",
            title="Cancel a retry-all under way",
            runbook="DLQ: retry all DLQ jobs (stop it)",
            permission="jobs.retry_job",
            object_type="operation",
            input=inputs.Reason,
            perform=effects.operation_cancel,
            target="operation",
            console=ConsoleDoor(
                "operations/<uuid:target>/cancel", "operation-cancel", "jobs:operation-detail", back_with_target=True
            ),
            api="POST /api/operations/{id}/cancel",
            cli="operations cancel",
        ),
        Action(
            name="dlq.clear",
            title="Clear the DLQ",
            runbook="DLQ: clear DLQ (`queue.clearDLQ`)",
            permission="jobs.clear_dlq",
            object_type="dlq",
            input=inputs.Confirmed,
            perform=effects.dlq_clear,
            preview=previews.dlq_clear,
            confirm=DLQ_CLEAR_CONFIRMATION,
            four_eyes=True,
            console=ConsoleDoor("dlq/clear", "dlq-clear", "jobs:dlq-list"),
            api="POST /api/dlq/clear",
            cli="dlq clear",
        ),
        Action(
            name="dlq.discard",
            title="Discard one DLQ entry",
            runbook="DLQ: clear DLQ (one entry)",
            permission="jobs.clean_dlq",
            object_type="job",
            input=inputs.Reason,
            perform=effects.dlq_discard,
            target="job",
            console=ConsoleDoor("dlq/<uuid:target>/discard", "dlq-discard", "jobs:dlq-list"),
            api="POST /api/dlq/{jobId}/discard",
            cli="dlq discard",
        ),
        Action(
            name="audit.verify",
            title="Verify the whole audit trail",
            runbook="Audit trail: verify the hash chains",
            permission="jobs.view_audit",
            object_type="audit",
            input=inputs.NoInput,
            perform=effects.audit_verify_all,
            console=ConsoleDoor("audit/verify-all", "audit-verify-all", "jobs:audit-list"),
            api="POST /api/audit/verify",
            cli="audit verify-all",
        ),
        Action(
            name="dlq.clean_expired",
            title="Remove expired DLQ entries",
            runbook="DLQ: clean expired entries (`queue.cleanExpiredDLQ`)",
            permission="jobs.clean_dlq",
            object_type="dlq",
            input=inputs.NoInput,
            perform=effects.dlq_clean_expired,
            preview=previews.dlq_clean_expired,
            console=ConsoleDoor("dlq/clean-expired", "dlq-clean-expired", "jobs:dlq-list"),
            api="POST /api/dlq/clean-expired",
            cli="dlq clean-expired",
        ),
        Action(
            name="worker.disable",
            title="Disable the job system",
            runbook="Emergency: disable job system",
            permission="jobs.emergency",
            object_type="config",
            input=inputs.Confirmed,
            perform=effects.worker_switch(False),
            confirm=DISABLE_CONFIRMATION,
            four_eyes=True,
            console=ConsoleDoor("emergency/disable", "emergency-disable", "jobs:emergency"),
            api="POST /api/worker/disable",
            cli="worker disable",
        ),
        Action(
            name="worker.enable",
            title="Enable the job system",
            runbook="Worker issues: restart worker",
            permission="jobs.emergency",
            object_type="config",
            input=inputs.Reason,
            perform=effects.worker_switch(True),
            console=ConsoleDoor("workers/enable", "worker-enable", "jobs:worker-list"),
            api="POST /api/worker/enable",
            cli="worker enable",
        ),
        Action(
            name="emergency.force_fail_running",
            title="Force-fail every running job",
            runbook="Emergency: force fail all running jobs",
            permission="jobs.emergency",
            object_type="job",
            input=inputs.Confirmed,
            perform=effects.force_fail_running,
            preview=previews.force_fail_running,
            confirm=FORCE_FAIL_CONFIRMATION,
            four_eyes=True,
            console=ConsoleDoor("emergency/force-fail-running", "emergency-force-fail-running", "jobs:emergency"),
            api="POST /api/emergency/force-fail-running",
            cli="force-fail-running",
        ),
        Action(
            name="emergency.clear_all",
            title="Clear all jobs",
            runbook="Emergency: clear all jobs",
            permission="jobs.emergency",
            object_type="job",
            input=inputs.Confirmed,
            perform=effects.clear_all,
            preview=previews.clear_all,
            confirm=CLEAR_ALL_CONFIRMATION,
            four_eyes=True,
            confirm_over_api=True,
            console=ConsoleDoor("emergency/clear-all", "emergency-clear-all", "jobs:emergency"),
            api="POST /api/emergency/clear-all",
            cli="clear-all",
        ),
        Action(
            name="four_eyes.confirm",
            title="Confirm another admin's request (four eyes)",
            runbook="Emergency procedures: a second admin confirms",
            permission="jobs.emergency",
            object_type="request",
            input=inputs.NoInput,
            # ACTIONS is read when it runs: the request names the action to run.
            perform=lambda actor, data, target: effects.four_eyes_confirm(actor, target, ACTIONS),
            target="request",
            console=ConsoleDoor("requests/<uuid:target>/confirm", "request-confirm", "jobs:request-list"),
            api="POST /api/requests/{requestId}/confirm",
            cli="requests confirm",
        ),
        Action(
            name="four_eyes.reject",
            title="Reject (or withdraw) a four-eyes request",
            runbook="Emergency procedures: a second admin confirms",
            permission="jobs.emergency",
            object_type="request",
            input=inputs.Reason,
            perform=effects.four_eyes_reject,
            target="request",
            console=ConsoleDoor("requests/<uuid:target>/reject", "request-reject", "jobs:request-list"),
            api="POST /api/requests/{requestId}/reject",
            cli="requests reject",
        ),
        Action(
            name="config.update",
            title="Change settings",
            runbook="Backpressure: increase capacity",
            permission="jobs.manage_config",
            object_type="config",
            input=inputs.ConfigPatch,
            perform=effects.change_config,
            console=ConsoleDoor("config/update", "config-update", "jobs:config", generic=False),
            api="PATCH /api/config",
        ),
        Action(
            name="jobs.import",
            title="Import jobs from JSONL",
            runbook="Store issues: JSONL store",
            permission="jobs.import_jobs",
            object_type="job",
            input=inputs.JsonlImport,
            perform=effects.import_jsonl,
            api="POST /api/jobs/import",
            cli="import-jsonl",
        ),
    ]
}
