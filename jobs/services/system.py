"""Enabling and disabling the job system (the runbook's worker.enabled switch)."""

from __future__ import annotations

from jobs.jobsconfig import JobsSettings
from jobs.services.audit import Actor, required_reason
from jobs.services.config import config_update


def worker_set_enabled(*, actor: Actor, enabled: bool, reason: str) -> JobsSettings:
    """Stop or resume admitting jobs on every worker. Running jobs finish."""
    action = "worker.enable" if enabled else "worker.disable"
    reason = required_reason(reason)
    cfg = config_update(actor=actor, changes={"worker": {"enabled": enabled}}, reason=reason, action=action)
    if enabled:
        from jobs.engine.reconciler import reconcile

        reconcile()  # publish wake-ups for what waited while disabled
    return cfg
