"""Destructive actions racing ordinary traffic: nothing is removed that their export does not hold."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from django.db import connection

from jobs.models import Job
from jobs.services.config import config_update
from jobs.services.dlq import dlq_clear
from jobs.services.lifecycle import jobs_clear_all
from jobs.services.submission import job_submit

pytestmark = pytest.mark.django_db(transaction=True)


def seed_jobs(count: int) -> None:
    """Enough rows that the export takes a while, so submissions land while it writes."""
    Job.objects.bulk_create(
        Job(job_key=f"seed:{n}", entrypoint="demo.noop", params={"seed": n}, status="succeeded") for n in range(count)
    )


class Submitters:
    """Threads that submit jobs until stopped, remembering every id they created."""

    def __init__(self, cli, threads: int = 3) -> None:
        self.cli = cli
        self.created: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._submit, args=(n,)) for n in range(threads)]

    def _submit(self, worker: int) -> None:
        try:
            for n in range(5000):  # bounded; stopped long before
                if self._stop.is_set():
                    return
                job, _ = job_submit(actor=self.cli, entrypoint="demo.noop", params={"t": worker, "n": n})
                self.created.append(str(job.id))
        finally:
            connection.close()

    def __enter__(self) -> Submitters:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def exported_ids(path: str) -> set[str]:
    return {json.loads(line)["id"] for line in Path(path).read_text().splitlines()}


def test_clear_all_removes_only_jobs_that_its_export_holds_while_submissions_go_on(roles, cli):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 100_000}})
    seed_jobs(4000)
    with Submitters(cli) as submitters:
        while len(submitters.created) < 20:  # submissions are flowing
            threading.Event().wait(0.01)
        result = jobs_clear_all(actor=cli, reason="race test")
        during = len(submitters.created)
        while len(submitters.created) < during + 20:  # and go on after it
            threading.Event().wait(0.01)

    remaining = {str(i) for i in Job.objects.values_list("id", flat=True)}
    gone = set(submitters.created) - remaining
    in_export = exported_ids(result["export"])
    assert gone <= in_export, f"{len(gone - in_export)} jobs were deleted without being exported"
    assert result["removed"] == len(in_export) >= 4000
    assert remaining, "jobs submitted after the clear are kept"
    assert not remaining & in_export


def test_dlq_clear_removes_only_entries_that_its_export_holds(roles, cli):
    from jobs.models import DLQEntry
    from jobs.services.dlq import dlq_add

    config_update(actor=cli, changes={"dlq": {"maxSize": 10_000}})
    failed = Job.objects.bulk_create(
        Job(job_key=f"f:{n}", entrypoint="demo.fail", status="failed", attempts=3, last_error="boom")
        for n in range(1500)
    )
    DLQEntry.objects.bulk_create(
        DLQEntry.of(job, reason="Max attempts exceeded", attempts=3, fingerprint="x") for job in failed
    )
    late = Job.objects.bulk_create(
        Job(job_key=f"late:{n}", entrypoint="demo.fail", status="failed", attempts=3) for n in range(200)
    )
    stop = threading.Event()
    added: list[str] = []

    def add_entries() -> None:
        try:
            for job in late:
                if stop.is_set():
                    return
                from django.db import transaction

                with transaction.atomic():
                    dlq_add(job, reason="Max attempts exceeded (3/3)")
                added.append(str(job.id))
        finally:
            connection.close()

    adder = threading.Thread(target=add_entries)
    adder.start()
    result = dlq_clear(actor=cli, reason="race test")
    stop.set()
    adder.join(timeout=30)

    kept = {str(i) for i in DLQEntry.objects.values_list("job_id", flat=True)}
    all_ids = {str(job.id) for job in failed} | set(added)
    in_export = {json.loads(line)["id"] for line in Path(result["export"]).read_text().splitlines()}
    assert all_ids - kept <= in_export
    assert result["removed"] == len(in_export)
