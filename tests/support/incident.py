"""A scripted incident, run in this process: a burst of failures, a retry-all, an approval.

Health is recorded at each turn as the reconciler would on its tick, so the
timeline holds healthy → degraded → healthy around the burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.models import Job
from jobs.services.approvals import job_approve
from jobs.services.audit import Actor
from jobs.services.health import health_record
from jobs.services.operations import dlq_retry_all_start, operation_run
from jobs.services.submission import job_submit
from tests.support.console import live_worker

BURST = 12  # the DLQ then holds more than 10: health turns degraded


@dataclass
class Incident:
    since: datetime
    until: datetime
    failing: list[Job]
    approved: Job


def run_all() -> None:
    """Admit and execute every due job in this process, as a worker would."""
    while (job := job_claim_next(worker="w-test")) is not None:
        job_execute(job, worker="w-test")


def script_incident(*, operator, approver) -> Incident:
    cli = Actor.cli("tests")
    since = timezone.now() - timedelta(seconds=1)
    live_worker()
    health_record()  # healthy, before it starts
    failing = [job_submit(actor=cli, entrypoint="demo.fail", params={"n": n}, max_attempts=1)[0] for n in range(BURST)]
    run_all()
    assert health_record() is not None, "the burst made the system degraded"
    operation = dlq_retry_all_start(actor=Actor.for_user(operator), reason="upstream fixed", background=False)
    operation_run(operation.id)
    assert health_record() is not None, "the retry-all made it healthy again"
    waiting, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"gate": 1}, issue_id="42")
    job_approve(actor=Actor.for_user(approver), job_id=waiting.id, reason="looked fine")
    return Incident(since, timezone.now() + timedelta(seconds=1), failing, waiting)
