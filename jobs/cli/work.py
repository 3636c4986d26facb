"""Jobs: list, show, submit, cancel, force-fail, and backpressure relief."""

from __future__ import annotations

from jobs import selectors
from jobs.cli.base import Session, add_action, add_read, checked_limit, job_id, limit_option
from jobs.models import Priority, Status
from jobs.representations import job_detail_to_dict, job_to_dict, pause_to_dict


def register(sub) -> None:
    p = add_read(sub, "list", job_list, "list jobs, newest first")
    p.add_argument("--status", choices=Status.values)
    p.add_argument("--priority", choices=[priority.label for priority in Priority])
    p.add_argument("--entrypoint")
    p.add_argument(
        "--params",
        metavar="FILTER",
        help='jobs whose params hold this: region=eu,customer.tier=gold or {"region": "eu"}',
    )
    limit_option(p, 50)

    p = add_read(sub, "show", job_show, "one job with its events")
    p.add_argument("job_id")

    add_action(sub, "job.submit", positional=["entrypoint"], json_fields=["params"])
    add_action(sub, "job.cancel")
    add_action(sub, "queue.cancel_low_priority")
    add_action(sub, "queue.pause")
    add_action(sub, "queue.resume")
    add_read(sub, "paused", paused_list, "paused entry points and priorities, with the queued jobs each holds back")
    add_action(sub, "job.force_fail")


def job_list(session: Session, options: dict) -> None:
    jobs = selectors.job_search(
        status=options["status"],
        priority=options["priority"],
        entrypoint=options["entrypoint"],
        params=selectors.params_filter(options["params"]),
    )
    session.show([job_to_dict(job) for job in jobs[: checked_limit(options["limit"])]])


def job_show(session: Session, options: dict) -> None:
    session.show(job_detail_to_dict(*selectors.job_with_events(job_id(options["job_id"]))))


def paused_list(session: Session, options: dict) -> None:
    session.show([pause_to_dict(pause, queued) for pause, queued in selectors.pauses()])
