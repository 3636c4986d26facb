"""The running counts (jobs by status, DLQ entries) stay exact under racing transitions.

The dashboard, /api/health, the stats endpoints and /metrics read counts from
the tallies the database keeps as rows change, not from COUNT(*) over the job
table; these tests race every kind of change against each other and then
compare the two.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from jobs import selectors
from jobs.engine.admission import job_claim_next
from jobs.engine.runner import job_execute
from jobs.models import DLQEntry, Job, Status, Tally
from jobs.services.config import config_update
from jobs.services.errors import Conflict
from jobs.services.jsonl import jsonl_import
from jobs.services.lifecycle import job_cancel, jobs_clear_all
from jobs.services.submission import job_submit
from jobs.services.tallies import tallies_compact

pytestmark = pytest.mark.django_db(transaction=True)


def exact_counts() -> dict[str, int]:
    counted = dict(Job.objects.order_by().values_list("status").annotate(n=Count("id")))
    store = {status.value: counted.get(status.value, 0) for status in Status}
    store["total"] = sum(store.values())
    return store


class Racers:
    """Threads, each repeating one kind of change a bounded number of times until stopped."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def add(self, work, rounds: int = 2000) -> None:
        def loop() -> None:
            try:
                for n in range(rounds):
                    if self.stop.is_set():
                        return
                    work(n)
            except BaseException as exc:  # reported by the test, not lost in a thread
                self.errors.append(exc)
            finally:
                connection.close()

        self.threads.append(threading.Thread(target=loop))

    def __enter__(self) -> Racers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def clear_all_once_nothing_runs(cli, attempts: int = 50) -> dict:
    """Clear all as an operator would: a claim that read the configuration just before the
    disable may still start one job, and clear all is refused (409) until it ends."""
    for _ in range(attempts):
        while Job.objects.running().exists():
            threading.Event().wait(0.01)
        with contextlib.suppress(Conflict):
            return jobs_clear_all(actor=cli, reason="race test")
    raise AssertionError(f"clear all was refused {attempts} times: jobs kept starting after the disable")


def test_counts_equal_count_star_after_submits_claims_outcomes_cancels_clear_all_and_import(roles, cli):
    config_update(actor=cli, changes={"queue": {"maxQueueSize": 100_000, "maxConcurrent": 4}})
    submitted: list[str] = []

    def submit(n: int) -> None:
        # Every third job fails at once and goes to the DLQ.
        params = {"n": n, "thread": threading.get_ident()}
        entrypoint = "demo.fail" if n % 3 == 0 else "demo.noop"
        job, _ = job_submit(actor=cli, entrypoint=entrypoint, params=params, max_attempts=1)
        submitted.append(str(job.id))

    def work(n: int) -> None:
        job = job_claim_next(worker=f"tests-{threading.get_ident()}")
        if job is not None:
            job_execute(job, worker=f"tests-{threading.get_ident()}")

    def cancel(n: int) -> None:
        if len(submitted) > n:
            with contextlib.suppress(Conflict):  # already running or finished
                job_cancel(actor=cli, job_id=submitted[-1 - n % 5], reason="race")

    def fold(n: int) -> None:
        tallies_compact()
        threading.Event().wait(0.02)

    racers = Racers()
    for _ in range(2):
        racers.add(submit)
    for _ in range(2):
        racers.add(work)
    racers.add(cancel)
    racers.add(fold)
    with racers:
        while len(submitted) < 150:
            threading.Event().wait(0.01)
        # Clear all is refused while a job runs: stop admissions and let the runs end first.
        config_update(actor=cli, changes={"worker": {"enabled": False}})
        cleared = clear_all_once_nothing_runs(cli)
        config_update(actor=cli, changes={"worker": {"enabled": True}})
        during = len(submitted)
        jsonl_import(actor=cli, text=Path(cleared["export"]).read_text())
        while len(submitted) < during + 100:  # and traffic goes on after the import
            threading.Event().wait(0.01)
    assert not racers.errors, racers.errors

    assert cleared["removed"] > 0
    assert selectors.store_stats() == exact_counts()
    assert selectors.tallies()["dlq"] == DLQEntry.objects.count() > 0
    tallies_compact()
    assert selectors.store_stats() == exact_counts()
    names = list(Tally.objects.values_list("name", flat=True))
    assert len(names) == len(set(names)), "folding leaves one row per count"


def test_counts_follow_a_truncate_and_a_bulk_insert(roles, cli):
    for n in range(3):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE jobs_job CASCADE")
    assert selectors.store_stats()["total"] == 0
    Job.objects.bulk_create(Job(job_key=f"bulk:{n}", entrypoint="demo.noop", status="succeeded") for n in range(50))
    assert selectors.store_stats() == exact_counts()
    assert selectors.store_stats()["succeeded"] == 50
