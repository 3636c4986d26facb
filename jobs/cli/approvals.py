"""Approvals: waiting and expiring jobs, force check, approve, reject."""

from __future__ import annotations

from jobs import selectors
from jobs.cli.base import Session, add_action, add_read
from jobs.representations import job_to_dict
from jobs.services.config import config_get


def register(sub) -> None:
    p = sub.add_parser("approvals", help="jobs waiting for approval")
    asub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    add_read(asub, "list", waiting)
    add_read(asub, "expiring", expiring)
    add_action(asub, "approval.check")
    add_action(asub, "job.approve")
    add_action(asub, "job.reject")


def waiting(session: Session, options: dict) -> None:
    session.show([job_to_dict(job) for job in selectors.waiting_approval_jobs()])


def expiring(session: Session, options: dict) -> None:
    session.show([job_to_dict(job) for job in selectors.expiring_jobs(config_get())])
