"""The console's pages and actions. Actions are POST-only; names are verb-like."""

from __future__ import annotations

from django.urls import path

from jobs.views import approvals, audit, config, dashboard, dlq, emergency, events, jobs, queue, workers

app_name = "jobs"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    # Jobs
    path("jobs/", jobs.job_list, name="job-list"),
    path("jobs/cancel", jobs.jobs_cancel_selected, name="jobs-cancel"),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/cancel", jobs.job_cancel_view, name="job-cancel"),
    path("jobs/<uuid:job_id>/force-fail", jobs.job_force_fail_view, name="job-force-fail"),
    path("jobs/<uuid:job_id>/approve", approvals.job_approve_view, name="job-approve"),
    path("jobs/<uuid:job_id>/reject", approvals.job_reject_view, name="job-reject"),
    path("jobs/<uuid:job_id>/check-approval", approvals.job_check_approval, name="job-check-approval"),
    # DLQ
    path("dlq/", dlq.dlq_list, name="dlq-list"),
    path("dlq/<uuid:job_id>/retry", dlq.dlq_retry_view, name="dlq-retry"),
    path("dlq/groups/<str:fingerprint>/retry", dlq.dlq_retry_group, name="dlq-retry-group"),
    path("dlq/retry-all", dlq.dlq_retry_all, name="dlq-retry-all"),
    path("dlq/clear", dlq.dlq_clear_view, name="dlq-clear"),
    path("dlq/clean-expired", dlq.dlq_clean_expired_view, name="dlq-clean-expired"),
    path("operations/<uuid:operation_id>/", dlq.operation_detail, name="operation-detail"),
    # Backpressure
    path("backpressure/", queue.backpressure, name="backpressure"),
    path("backpressure/cancel-low-priority", queue.queue_cancel_low_priority, name="queue-cancel-low-priority"),
    path("backpressure/capacity", queue.capacity_update, name="capacity-update"),
    # Approvals, workers, events
    path("approvals/", approvals.approval_list, name="approval-list"),
    path("workers/", workers.worker_list, name="worker-list"),
    path("workers/set-enabled", workers.worker_set_enabled_view, name="worker-set-enabled"),
    path("events/", events.event_list, name="event-list"),
    # Emergency, audit, configuration
    path("emergency/", emergency.emergency, name="emergency"),
    path("emergency/force-fail-running", emergency.emergency_force_fail_running, name="emergency-force-fail-running"),
    path("emergency/clear-all", emergency.emergency_clear_all, name="emergency-clear-all"),
    path("emergency/disable", emergency.emergency_disable, name="emergency-disable"),
    path("audit/", audit.audit_list, name="audit-list"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
    path("audit/verify", audit.audit_verify_view, name="audit-verify"),
    path("config/", config.config_page, name="config"),
    path("config/update", config.config_update_view, name="config-update"),
]
