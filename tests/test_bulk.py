"""Bulk actions on a filter (jobs.bulk_freeze, jobs.bulk_run): the dry run freezes the exact target set with
its breakdown and effect on the queue; the run acts on exactly that set, skipping and counting what ended."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import AuditEntry, BackgroundOperation, BulkSelection, DLQEntry, Event, Job, Priority, Status
from jobs.services.audit import Actor
from jobs.services.bulk import bulk_freeze
from jobs.services.config import config_update
from jobs.services.lifecycle import job_cancel, jobs_force_fail
from jobs.services.operations import operation_run
from tests.support.api import last_audit
from tests.support.console import bulk_jobs, login, make_dlq_entry, make_job
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db


def freeze(api, role: str = "operator", **body):
    return api(role).post("/api/jobs/bulk", body)


def run(api, selection_id: str, role: str = "operator", reason: str = "duplicates"):
    return api(role).post(f"/api/jobs/bulk/{selection_id}/run", {"reason": reason})


def test_it_runs_exactly_the_frozen_set_while_new_matching_jobs_arrive(api):
    frozen = [make_job(entrypoint="demo.sleep", params={"region": "eu"}) for _ in range(3)]
    make_job(entrypoint="demo.sleep", params={"region": "us"})

    answer = freeze(api, action="cancel", filter={"entrypoint": "demo.sleep", "params": "region=eu"})
    assert answer.status_code == 201, answer.json()
    selection = answer.json()["selection"]
    assert (selection["count"], selection["state"]) == (3, "frozen")
    arrived = [make_job(entrypoint="demo.sleep", params={"region": "eu"}) for _ in range(2)]

    started = run(api, selection["id"])
    assert started.status_code == 202, started.json()
    operation = operation_run(started.json()["operation"]["id"])

    assert (operation.state, operation.result["changed"], operation.result["skipped"]) == ("done", 3, 0)
    assert set(Job.objects.filter(status=Status.CANCELED).values_list("id", flat=True)) == {j.id for j in frozen}
    assert all(Job.objects.get(id=job.id).status == Status.QUEUED for job in arrived)
    batch = AuditEntry.objects.filter(action="jobs.bulk_run", object_type="job").get()
    assert sorted(batch.object_ids) == sorted(str(job.id) for job in frozen)
    assert batch.after["selection"] == selection["id"] and batch.reason == "duplicates"
    summary = AuditEntry.objects.filter(action="jobs.bulk_run", object_type="selection").order_by("id")
    assert [entry.object_ids for entry in summary] == [[selection["id"]]] * 2
    assert summary[0].before["filter"] == {"entrypoint": "demo.sleep", "params": {"region": "eu"}}
    assert (summary[1].after["changed"], summary[1].after["skipped"]) == (3, 0)


def test_it_skips_and_counts_the_frozen_jobs_that_ended_meanwhile(api, cli):
    jobs = [make_job(priority=Priority.LOW) for _ in range(4)]
    selection = freeze(api, action="cancel", filter={"priority": "low"}).json()["selection"]
    job_cancel(actor=cli, job_id=jobs[0].id, reason="by hand")
    Job.objects.filter(id=jobs[1].id).update(status=Status.SUCCEEDED)

    operation = operation_run(run(api, selection["id"]).json()["operation"]["id"])

    assert (operation.done, operation.total, operation.result["changed"], operation.result["skipped"]) == (4, 4, 2, 2)
    assert Job.objects.get(id=jobs[1].id).status == Status.SUCCEEDED
    assert Job.objects.get(id=jobs[0].id).status_reason == "by hand"
    page = api("viewer").get(f"/api/operations/{operation.id}").json()
    assert (page["state"], page["result"]["skipped"]) == ("done", 2)


def test_its_dry_run_shows_the_breakdown_and_the_effect_on_the_queue_and_changes_nothing(api):
    config_update(actor=Actor.cli("tests"), changes={"queue": {"maxQueueSize": 10}})
    for _ in range(3):
        make_job(entrypoint="demo.sleep")
    make_job(entrypoint="demo.noop", status=Status.RUNNING)
    make_job(entrypoint="demo.noop", status=Status.SUCCEEDED)  # ended: not frozen

    selection = freeze(api, action="cancel", filter={}).json()["selection"]

    assert selection["count"] == 4
    assert selection["breakdown"]["byEntrypoint"] == [
        {"entrypoint": "demo.sleep", "count": 3},
        {"entrypoint": "demo.noop", "count": 1},
    ]
    assert selection["breakdown"]["byStatus"] == [{"status": "queued", "count": 3}, {"status": "running", "count": 1}]
    assert selection["breakdown"]["byFingerprint"] == [{"fingerprint": None, "count": 4}]
    effect = selection["effect"]
    assert (effect["freedQueued"], effect["freedRunning"], effect["queuedNow"], effect["queuedAfter"]) == (3, 1, 3, 0)
    assert Job.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).count() == 4
    entry = last_audit("jobs.bulk_freeze")
    assert (entry.object_ids, entry.after["frozen"], entry.after["action"]) == ([selection["id"]], 4, "cancel")


def test_a_retry_dry_run_groups_by_fingerprint_and_says_how_many_wait_for_room(api):
    config_update(actor=Actor.cli("tests"), changes={"queue": {"maxQueueSize": 10}})  # threshold 8, pace 7
    for _ in range(5):
        make_job()
    for _ in range(4):
        make_dlq_entry("TimeoutError: after 5s")
    make_dlq_entry("KeyError: region")

    selection = freeze(api, action="retry", filter={"status": "failed"}).json()["selection"]

    assert selection["count"] == 5
    by_fingerprint = [row["count"] for row in selection["breakdown"]["byFingerprint"]]
    assert by_fingerprint == [4, 1]
    assert (selection["effect"]["newQueued"], selection["effect"]["fitNow"], selection["effect"]["waitForRoom"]) == (
        5,
        2,
        3,
    )


def test_a_retry_dry_run_freezes_exactly_the_dlq_entries_its_filter_matches(api):
    eu = [make_dlq_entry(entrypoint="shop.sync", params={"region": "eu"}).job_id for _ in range(2)]
    us = make_dlq_entry(entrypoint="shop.sync", params={"region": "us"}).job_id
    mail = make_dlq_entry("SMTPError: 421", entrypoint="mail.send", params={"region": "eu"}).job_id
    make_job(entrypoint="shop.sync", status=Status.FAILED)  # failed, but taken out of the DLQ

    def frozen(**filter) -> tuple[set, dict]:
        selection = freeze(api, action="retry", filter=filter).json()["selection"]
        ids = BulkSelection.objects.get(id=selection["id"]).frozen_ids()
        return {uuid.UUID(job_id) for job_id in ids}, {
            row["entrypoint"]: row["count"] for row in selection["breakdown"]["byEntrypoint"]
        }

    assert frozen(status="failed") == ({*eu, us, mail}, {"shop.sync": 3, "mail.send": 1})
    assert frozen(entrypoint="shop.sync") == ({*eu, us}, {"shop.sync": 3})
    assert frozen(entrypoint="shop.sync", params="region=eu") == (set(eu), {"shop.sync": 2})
    assert frozen(q="SMTPError") == ({mail}, {"mail.send": 1})
    queued = freeze(api, action="retry", filter={"status": "queued"})
    assert queued.status_code == 409 and "no job matching this filter" in queued.json()["error"]


def test_a_retry_run_is_paced_below_backpressure_and_waits_for_room(api):
    config_update(actor=Actor.cli("tests"), changes={"queue": {"maxQueueSize": 10}, "worker": {"enabled": False}})
    for _ in range(5):
        make_job()
    entries = [make_dlq_entry("TimeoutError: after 5s") for _ in range(4)]
    selection = freeze(api, action="retry", filter={"status": "failed"}).json()["selection"]

    operation = operation_run(run(api, selection["id"], reason="upstream back").json()["operation"]["id"])

    assert (operation.state, operation.result["changed"], operation.done) == ("waiting", 2, 2)
    assert Job.objects.queued().count() == 7, "up to the pace, a tenth under the threshold"
    assert DLQEntry.objects.count() == 2
    Job.objects.queued().update(status=Status.SUCCEEDED)  # the queue drains
    BackgroundOperation.objects.filter(id=operation.id).update(state=BackgroundOperation.State.PENDING)
    operation = operation_run(operation.id)
    assert (operation.state, operation.result["changed"], operation.result["skipped"]) == ("done", 4, 0)
    assert set(Job.objects.exclude(retried_from=None).values_list("retried_from", flat=True)) == {
        entry.job_id for entry in entries
    }


def test_bad_input_is_refused_clearly_and_changes_nothing(api, users):
    job = make_job()
    assert freeze(api, action="delete", filter={}).status_code == 400
    assert "action:" in freeze(api, action="delete", filter={}).json()["error"]
    assert freeze(api, action="cancel", filter={"colour": "red"}).status_code == 400
    nothing = freeze(api, action="cancel", filter={"entrypoint": "demo.fail"})
    assert nothing.status_code == 409 and "no job matching this filter" in nothing.json()["error"]
    assert not BulkSelection.objects.exists()

    selection = freeze(api, action="cancel", filter={}).json()["selection"]
    assert run(api, "00000000-0000-0000-0000-000000000000").status_code == 404
    theirs = run(api, selection["id"], role="admin")
    assert theirs.status_code == 409 and "frozen by operator" in theirs.json()["error"]
    assert api("operator").post(f"/api/jobs/bulk/{selection['id']}/run", {"reason": " "}).status_code == 400
    BulkSelection.objects.filter(id=selection["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = run(api, selection["id"])
    assert expired.status_code == 409 and "expired" in expired.json()["error"]
    assert Job.objects.get(id=job.id).status == Status.QUEUED
    assert not BackgroundOperation.objects.exists()


def test_a_selection_runs_once(api):
    make_job()
    selection = freeze(api, action="cancel", filter={}).json()["selection"]
    assert run(api, selection["id"]).status_code == 202
    again = run(api, selection["id"])
    assert again.status_code == 409 and "already run" in again.json()["error"]
    assert BackgroundOperation.objects.count() == 1


def test_force_fail_is_an_admins_and_an_operator_is_refused_and_recorded(api):
    job = make_job(status=Status.RUNNING)
    refused = freeze(api, action="force_fail", filter={"status": "running"})
    assert refused.status_code == 403
    assert last_audit("jobs.bulk_freeze").outcome == AuditEntry.Outcome.DENIED
    assert not BulkSelection.objects.exists()

    selection = freeze(api, "admin", action="force_fail", filter={"status": "running"}).json()["selection"]
    operation = operation_run(run(api, selection["id"], role="admin", reason="stuck").json()["operation"]["id"])
    assert (operation.state, operation.result["changed"]) == ("done", 1)
    assert Job.objects.get(id=job.id).status == Status.FAILED and DLQEntry.objects.filter(job_id=job.id).exists()


def test_its_dry_run_takes_a_bounded_number_of_queries(users):
    bulk_jobs(3000)  # half of them queued, running or waiting
    operator = Actor.for_user(users["operator"], source="api")
    with CaptureQueriesContext(connection) as small:
        few = bulk_freeze(actor=operator, action="cancel", filters={"priority": "low"})
    with CaptureQueriesContext(connection) as large:
        selection = bulk_freeze(actor=operator, action="cancel", filters={})

    assert (few.total, selection.total) == (500, 1500)
    assert len(large.captured_queries) <= len(small.captured_queries) <= 10, [
        q["sql"][:120] for q in large.captured_queries
    ]


def test_a_bulk_force_fail_puts_every_job_into_the_dlq_with_its_events_in_a_few_statements(users):
    admin = Actor.for_user(users["admin"], source="api")

    def force_fail(count: int) -> tuple[list[str], int]:
        ids = [make_job(status=Status.RUNNING, entrypoint=f"shop.sync{count}").id for _ in range(count)]
        with CaptureQueriesContext(connection) as queries:
            failed = jobs_force_fail(actor=admin, job_ids=ids, reason="stuck on a lock", action="jobs.bulk_run")
        return failed, len(queries.captured_queries)

    (few, few_queries), (many, many_queries) = force_fail(2), force_fail(300)

    assert len(few) == 2 and len(many) == 300
    assert many_queries == few_queries <= 15
    entries = DLQEntry.objects.filter(job_id__in=many)
    assert entries.count() == 300
    assert set(entries.values_list("entrypoint", "reason")) == {("shop.sync300", "Force-failed: stuck on a lock")}
    assert Job.objects.filter(id__in=many, status=Status.FAILED, last_error="stuck on a lock").count() == 300
    for type in ("job:failed", "job:dlq"):
        assert Event.objects.filter(type=type, job_id__in=many).count() == 300


def test_the_cli_freezes_then_runs_a_selection(users):
    jobs = [make_job(priority=Priority.LOW) for _ in range(2)]
    out = StringIO()
    call_command("jobs", "--as", "operator", "bulk", "freeze", "--action", "cancel", "--priority", "low", stdout=out)
    said = out.getvalue()
    assert "froze 2 jobs to cancel as selection" in said and "entrypoint: demo.noop 2" in said
    selection = BulkSelection.objects.get()
    with pytest.raises(CommandError, match="reason: required"):
        call_command("jobs", "--as", "operator", "bulk", "run", str(selection.id), stdout=StringIO())

    out = StringIO()
    call_command("jobs", "--as", "operator", "bulk", "run", str(selection.id), "--reason", "dupes", stdout=out)

    assert "'changed': 2" in out.getvalue()
    assert all(Job.objects.get(id=job.id).status == Status.CANCELED for job in jobs)


def test_the_console_freezes_all_matching_shows_the_dry_run_and_runs_it(client, users):
    for _ in range(3):
        make_job(entrypoint="demo.sleep", params={"region": "eu"})
    make_job(entrypoint="demo.noop")
    operator = login(client, users["operator"])
    listed = operator.get(reverse("jobs:job-list"), {"entrypoint": "demo.sleep", "params": "region=eu"}).text
    assert "All 3 matching this filter" in listed and 'value="force_fail"' not in listed

    form = {"scope": "all", "action": "cancel", "entrypoint": "demo.sleep", "params": "region=eu", "status": ""}
    answer = operator.post(reverse("jobs:bulk-freeze"), form, follow=True)

    selection = BulkSelection.objects.get()
    assert answer.redirect_chain[-1][0] == reverse("jobs:bulk-detail", args=[selection.id])
    assert 'data-frozen-count="3"' in answer.text and 'data-entrypoint="demo.sleep"' in answer.text
    assert "Frees 3 queued" in answer.text
    assert "<code>entrypoint=demo.sleep</code>, <code>params.region=&quot;eu&quot;</code>" in answer.text
    ran = operator.post(reverse("jobs:bulk-run", args=[selection.id]), {"reason": "dupes"}, follow=True)
    assert "/operations/" in ran.redirect_chain[-1][0]
    assert Job.objects.filter(status=Status.CANCELED).count() in (0, 3)  # a worker runs it


def test_the_console_pages_refuse_the_wrong_method_and_role_and_answer_htmx(client, users):
    make_job()
    selection = bulk_freeze(actor=Actor.for_user(users["operator"]), action="cancel", filters={})
    viewer = login(client, users["viewer"])
    assert viewer.get(reverse("jobs:bulk-freeze")).status_code == 405
    assert viewer.post(reverse("jobs:bulk-freeze"), {"scope": "all", "action": "cancel"}).status_code == 403
    page = viewer.get(reverse("jobs:bulk-detail", args=[selection.id]))
    assert page.status_code == 200 and "Only operator may run this dry run" in page.text
    region = viewer.get(reverse("jobs:bulk-detail", args=[selection.id]), headers={"HX-Request": "true"})
    assert region.text.lstrip().startswith('<section class="card" id="bulk-selection"')


@pytest.mark.workers
@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_exactly_the_frozen_dlq_entries_and_the_new_jobs_run(api, workers):
    frozen = [make_dlq_entry("ConnectionError: upstream down", entrypoint="demo.noop") for _ in range(4)]
    selection = freeze(api, action="retry", filter={"status": "failed", "q": "upstream down"}).json()["selection"]
    later = make_dlq_entry("ConnectionError: upstream down", entrypoint="demo.noop")  # fails after the freeze
    workers(1)

    operation_id = run(api, selection["id"], reason="upstream back").json()["operation"]["id"]

    wait_for(
        lambda: api("viewer").get(f"/api/operations/{operation_id}").json()["state"] == "done",
        timeout=30,
        message="the bulk retry ended",
    )
    retried = Job.objects.exclude(retried_from=None)
    assert set(retried.values_list("retried_from", flat=True)) == {entry.job_id for entry in frozen}
    wait_for(
        lambda: all(job.status == Status.SUCCEEDED for job in retried.all()), timeout=30, message="retried jobs ran"
    )
    assert list(DLQEntry.objects.values_list("job_id", flat=True)) == [later.job_id]


def test_a_bulk_run_not_taken_by_a_worker_yet_is_canceled_at_once_and_changes_nothing(api):
    jobs = [make_job() for _ in range(3)]
    selection = freeze(api, action="cancel", filter={}).json()["selection"]
    operation_id = run(api, selection["id"]).json()["operation"]["id"]

    canceled = api("operator").post(f"/api/operations/{operation_id}/cancel", {"reason": "wrong filter"})

    assert canceled.status_code == 200, canceled.json()
    assert canceled.json()["state"] == "canceled"
    assert "0 done, 0 skipped" in canceled.json()["progress"]
    assert operation_run(operation_id).state == "canceled"
    assert all(Job.objects.get(id=job.id).status == Status.QUEUED for job in jobs)
    assert last_audit("operation.cancel").reason == "wrong filter"
    last_word = last_audit("jobs.bulk_run")
    assert last_word.after == {"state": "canceled", "changed": 0, "skipped": 0}
    assert last_word.object_ids == [selection["id"]]


def test_the_jobs_page_counts_all_matching_jobs_beyond_its_first_page(client, users):
    bulk_jobs(120, status=Status.QUEUED)
    make_job(entrypoint="demo.sleep")
    operator = login(client, users["operator"])

    listed = operator.get(reverse("jobs:job-list"), {"entrypoint": "demo.noop"}).text

    assert "All 120 matching this filter" in listed
    assert "All 1 matching this filter" in operator.get(reverse("jobs:job-list"), {"entrypoint": "demo.sleep"}).text


def test_the_reconciler_drops_the_ids_of_a_dry_run_left_unrun_a_day_after_it_expired(api):
    from jobs.engine.reconciler import reconcile

    make_job()
    kept = freeze(api, action="cancel", filter={}).json()["selection"]
    stale = freeze(api, action="cancel", filter={}).json()["selection"]
    BulkSelection.objects.filter(id=stale["id"]).update(expires_at=timezone.now() - timedelta(days=1, minutes=1))

    assert reconcile()["selectionsForgotten"] == 1

    assert bytes(BulkSelection.objects.get(id=stale["id"]).ids) == b""
    assert len(BulkSelection.objects.get(id=kept["id"]).frozen_ids()) == 1
    # The row stays, with its breakdown, for the freeze's audit entry that names it; it can no longer run.
    assert BulkSelection.objects.get(id=stale["id"]).total == 1
    assert run(api, stale["id"]).status_code == 409
