"""The system: health, workers and the on/off switch, the emergency procedures, the reconciler."""

from __future__ import annotations

from jobs import selectors
from jobs.cli.base import Session, add_action, add_read
from jobs.representations import worker_to_dict
from jobs.services.config import config_get


def register(sub) -> None:
    add_read(sub, "health", health, "system_health: status, issues, store/queue/worker stats")

    p = sub.add_parser("worker", help="worker stats, enable / disable the job system")
    wsub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    add_read(wsub, "stats", worker_stats)
    add_action(wsub, "worker.enable")
    add_action(wsub, "worker.disable")

    add_action(sub, "emergency.force_fail_running")
    add_action(sub, "emergency.clear_all")
    add_read(sub, "reconcile", reconcile, "run the reconciler once")


def health(session: Session, options: dict) -> None:
    session.show(selectors.system_health(config_get()))


def worker_stats(session: Session, options: dict) -> None:
    stats = selectors.worker_stats(config_get())
    stats["items"] = [worker_to_dict(worker) for worker in selectors.workers_listed(limit=1000)]
    session.show(stats)


def reconcile(session: Session, options: dict) -> None:
    from jobs.engine.reconciler import reconcile

    session.show(reconcile())
