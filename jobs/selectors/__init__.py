"""Every read of every door: the console, the API and the CLI read through these only.

They shape what they get with ``jobs.representations``. One module per kind of
read: ``stats`` (counts, health), ``lists`` (filtered lists), ``records`` (one thing).
"""

from __future__ import annotations

from jobs.selectors.attempts import Attempt, job_attempts
from jobs.selectors.history import WINDOWS, history, history_window, run_times
from jobs.selectors.lists import (
    DlqGroup,
    audit_entries,
    dlq_count,
    dlq_entries,
    dlq_groups,
    events,
    events_feed,
    expiring_jobs,
    expiring_named,
    job_search,
    jobs_for_export,
    low_priority_queued,
    waiting_approval_jobs,
    waiting_with_expiry_flag,
)
from jobs.selectors.params import params_filter
from jobs.selectors.records import (
    action_request,
    action_requests,
    action_requests_pending_count,
    dlq_entry_of,
    job_with_events,
    operation,
    operations_under_way,
    recent_exports,
    runtime_config_row,
    user_named,
)
from jobs.selectors.stats import (
    HealthIssue,
    alive_cutoff,
    event_throughput,
    health_issues,
    job_total,
    queue_stats,
    store_stats,
    system_health,
    tallies,
    utilization_percent,
    worker_stats,
    workers_alive,
    workers_listed,
)

__all__ = [
    "action_request",
    "action_requests",
    "action_requests_pending_count",
    "WINDOWS",
    "Attempt",
    "DlqGroup",
    "HealthIssue",
    "alive_cutoff",
    "audit_entries",
    "dlq_count",
    "dlq_entries",
    "dlq_entry_of",
    "dlq_groups",
    "event_throughput",
    "events",
    "events_feed",
    "expiring_jobs",
    "expiring_named",
    "history",
    "history_window",
    "health_issues",
    "job_search",
    "job_attempts",
    "job_total",
    "job_with_events",
    "jobs_for_export",
    "low_priority_queued",
    "operation",
    "operations_under_way",
    "params_filter",
    "queue_stats",
    "recent_exports",
    "run_times",
    "runtime_config_row",
    "store_stats",
    "tallies",
    "system_health",
    "user_named",
    "utilization_percent",
    "waiting_approval_jobs",
    "waiting_with_expiry_flag",
    "worker_stats",
    "workers_alive",
    "workers_listed",
]
