"""JSONL import (services.jsonl) and its round trip with the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied

from jobs.actions.perform import perform
from jobs.engine.admission import job_claim_next
from jobs.models import AuditEntry, DLQEntry, Job, Status
from jobs.representations import job_to_dict
from jobs.services.audit import Actor
from jobs.services.dlq import dlq_clear
from jobs.services.errors import InvalidInput
from jobs.services.export import job_export_rows
from jobs.services.jsonl import INTERRUPTED, imported_id, jsonl_import
from jobs.services.lifecycle import job_force_fail, jobs_clear_all, jobs_force_fail_running
from jobs.services.submission import job_submit
from tests.support.api import jobs_in_every_state

pytestmark = pytest.mark.django_db


def export_text() -> str:
    rows = job_export_rows(Job.objects.order_by("created_at", "id").select_related("dlq_entry"))
    return "".join(json.dumps(row) + "\n" for row in rows)


def line(**fields) -> str:
    row = {"id": "job_1", "entrypoint": "demo.noop", "status": "succeeded", "createdAt": "2025-01-02T03:04:05Z"}
    row.update(fields)
    return json.dumps(row)


def test_it_round_trips_every_job_through_export_and_import_into_an_empty_store(cli):
    made = jobs_in_every_state(cli)
    text = export_text()
    before = {row["id"]: row for row in map(json.loads, text.splitlines())}
    jobs_force_fail_running(actor=cli, reason="moving")  # clear all is refused while a job runs
    jobs_clear_all(actor=cli, reason="move to a new store")
    assert Job.objects.count() == 0

    report = jsonl_import(actor=cli, text=text)

    assert report == {"imported": len(before), "interrupted": 1, "duplicates": 0, "skipped": []}
    after = {row["id"]: row for row in map(json.loads, export_text().splitlines())}
    assert set(after) == set(before)
    running_id = str(made["running"].id)
    for job_id, row in before.items():
        if job_id == running_id:
            continue
        assert after[job_id] == row, job_id
    # Its first run may still be going: it comes in failed, into the DLQ, and is not started again.
    changed = ("status", "statusReason", "lastError", "completedAt", "dlq")
    assert after[running_id]["status"] == "failed"
    assert after[running_id]["statusReason"] == INTERRUPTED
    assert {k: v for k, v in after[running_id].items() if k not in changed} == {
        k: v for k, v in before[running_id].items() if k not in changed
    }
    assert after[str(made["retried"].id)]["retriedFrom"] == str(made["failed"].id)
    # The failed job had been retried out of the DLQ; the interrupted one is there.
    assert list(DLQEntry.objects.values_list("job_id", "reason")) == [(made["running"].id, INTERRUPTED)]


def test_it_keeps_dlq_entries_of_imported_failed_jobs(cli):
    dlq = {"reason": "Max attempts exceeded (3/3)", "addedAt": "2025-01-02T04:00:00Z", "attempts": 3}
    text = line(id="f1", status="failed", attempts=3, lastError="Error: timeout after 30s", dlq=dlq)

    jsonl_import(actor=cli, text=text)

    entry = DLQEntry.objects.get(job_id=imported_id("f1"))
    assert entry.reason == "Max attempts exceeded (3/3)"
    assert entry.last_error == "Error: timeout after 30s"
    assert entry.attempts == 3
    assert entry.fingerprint


def test_it_creates_no_duplicates_when_the_same_file_is_imported_again(cli):
    text = "\n".join([line(id="job_1"), line(id="job_2", status="queued"), ""])

    first = jsonl_import(actor=cli, text=text)
    second = jsonl_import(actor=cli, text=text)

    assert first == {"imported": 2, "interrupted": 0, "duplicates": 0, "skipped": []}
    assert second == {"imported": 0, "interrupted": 0, "duplicates": 2, "skipped": []}
    assert Job.objects.count() == 2
    assert Job.objects.get(id=imported_id("job_2")).status == Status.QUEUED


def test_it_refuses_a_file_with_a_broken_line_naming_that_line_and_writes_nothing(cli):
    audit_before = AuditEntry.objects.count()
    text = "\n".join([line(id="a"), line(id="b"), '{"id": "c", "entrypoint": ', line(id="d")])

    with pytest.raises(InvalidInput) as refused:
        jsonl_import(actor=cli, text=text)

    assert "line 3" in refused.value.message
    assert [item["line"] for item in refused.value.detail["lines"]] == [3]
    assert Job.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (line(status="done"), "status"),
        (line(priority="urgent"), "priority"),
        (line(createdAt="yesterday"), "createdAt"),
        (line(createdAt="2025-01-02T03:04:05"), "createdAt"),
        (line(attempts="3"), "attempts"),
        (line(maxAttempts=0), "maxAttempts"),
        (line(params=[1, 2]), "params"),
        (json.dumps({"entrypoint": "demo.noop", "status": "queued", "createdAt": "2025-01-02T03:04Z"}), "id: required"),
        (line(status="queued", entrypoint="not.registered"), "entrypoint"),
        (line(lastError="a\u0000b"), "lastError"),
        ("[1, 2]", "JSON object"),
        ('{"id": NaN}', "NaN"),
        (line(createdAt="0001-01-01T00:00:00+14:00"), "createdAt"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_it_names_the_field_of_each_kind_of_bad_line(cli, bad, expected):
    with pytest.raises(InvalidInput) as refused:
        jsonl_import(actor=cli, text=line(id="ok") + "\n" + bad)

    (item,) = refused.value.detail["lines"]
    assert item["line"] == 2
    assert expected in item["error"]
    assert Job.objects.count() == 0


def test_it_skips_bad_lines_when_asked_and_reports_them(cli):
    text = "\n".join([line(id="a"), "not json", line(id="b", priority="urgent"), line(id="c")])

    report = jsonl_import(actor=cli, text=text, skip_bad_lines=True)

    assert report["imported"] == 2
    assert [number for number, _ in report["skipped"]] == [2, 3]
    entry = AuditEntry.objects.filter(action="jobs.import").get()
    assert entry.after["skippedLines"] == [2, 3]
    assert len(entry.object_ids) == 2


def test_it_refuses_a_second_active_job_with_the_same_job_key(cli):
    text = "\n".join([line(id="a", status="queued", jobKey="k"), line(id="b", status="queued", jobKey="k")])

    with pytest.raises(InvalidInput) as refused:
        jsonl_import(actor=cli, text=text)

    assert refused.value.detail["lines"][0]["line"] == 2
    assert "jobKey" in refused.value.detail["lines"][0]["error"]


def test_it_takes_the_last_line_of_a_job_written_twice(cli):
    text = "\n".join([line(id="a", status="queued"), line(id="a", status="canceled")])

    report = jsonl_import(actor=cli, text=text)

    assert report["imported"] == 1
    assert Job.objects.get(id=imported_id("a")).status == Status.CANCELED


def test_it_refuses_an_import_without_the_permission_and_records_it(users):
    operator = Actor.for_user(users["operator"], source="api")

    with pytest.raises(PermissionDenied):
        perform("jobs.import", operator, {"text": line()}, door="api")

    assert Job.objects.count() == 0
    denied = AuditEntry.objects.filter(action="jobs.import").get()
    assert denied.outcome == "denied"
    assert denied.actor == "operator"


def test_it_writes_one_audit_entry_per_import(cli):
    jsonl_import(actor=cli, text="\n".join(line(id=str(n)) for n in range(5)))

    entry = AuditEntry.objects.filter(action="jobs.import").get()
    assert entry.after["imported"] == 5
    assert sorted(entry.object_ids) == sorted(str(imported_id(str(n))) for n in range(5))


def test_it_exports_jobs_in_the_runbook_field_names(cli):
    made = jobs_in_every_state(cli)

    rows = [json.loads(text) for text in export_text().splitlines()]

    by_id = {row["id"]: row for row in rows}
    assert by_id[str(made["queued"].id)] == job_to_dict(made["queued"])


def test_it_refuses_a_file_of_nothing_but_bad_lines_even_when_skipping(cli):
    with pytest.raises(InvalidInput) as refused:
        jsonl_import(actor=cli, text="{}\nnot json\n", skip_bad_lines=True)

    assert [item["line"] for item in refused.value.detail["lines"]] == [1, 2]
    assert not AuditEntry.objects.filter(action="jobs.import").exists()


def test_it_moves_jobs_with_the_export_and_import_commands(cli, tmp_path, capsys):
    from django.core.management import call_command

    made = jobs_in_every_state(cli)
    path = tmp_path / "jobs.jsonl"
    call_command("jobs", "export-jsonl", str(path))
    jobs_force_fail_running(actor=cli, reason="move")
    jobs_clear_all(actor=cli, reason="move")

    call_command("jobs", "import-jsonl", str(path))

    assert (
        f"imported {len(made)} jobs, 0 already present, 0 bad lines skipped; "
        "1 were running when exported: failed, in the DLQ, not run again"
    ) in capsys.readouterr().out
    assert set(Job.objects.values_list("id", flat=True)) == {job.id for job in made.values()}


def test_it_keeps_line_and_paragraph_separators_inside_strings_as_part_of_the_line(cli):
    # U+2028, U+2029 and U+0085 are valid raw inside JSON strings; only \n ends a line.
    message = "first\u2028second\u2029third\x85fourth"
    text = json.dumps({**json.loads(line()), "lastError": message}, ensure_ascii=False) + "\r\n" + line(id="job_2")

    report = jsonl_import(actor=cli, text=text)

    assert report == {"imported": 2, "interrupted": 0, "duplicates": 0, "skipped": []}
    assert Job.objects.get(id=imported_id("job_1")).last_error == message


def test_the_export_a_dlq_clear_wrote_puts_the_entries_back(cli):
    failed = []
    for n in range(3):
        job, _ = job_submit(actor=cli, entrypoint="demo.fail", params={"n": n})
        job_force_fail(actor=cli, job_id=job.id, reason=f"broken {n}")
        failed.append(job.id)
    before = {e.job_id: (e.reason, e.added_at, e.last_error) for e in DLQEntry.objects.all()}
    export = dlq_clear(actor=cli, reason="triaged too fast")["export"]
    assert not DLQEntry.objects.exists()

    report = jsonl_import(actor=cli, text=Path(export).read_text())

    assert report == {"imported": 0, "interrupted": 0, "duplicates": 3, "skipped": []}
    assert {e.job_id: (e.reason, e.added_at, e.last_error) for e in DLQEntry.objects.all()} == before
    assert Job.objects.filter(id__in=failed, status=Status.FAILED).count() == 3
    restore = AuditEntry.objects.filter(action="jobs.import").get()
    assert restore.after["dlqEntriesRestored"] == 3


def test_an_admin_may_not_approve_a_job_they_imported_whatever_its_submitted_by(users, api):
    admin = Actor.for_user(users["admin"], source="api")
    text = line(id="needs_ok", status="waiting_approval", submittedBy="someone-else", issueId="7")
    perform("jobs.import", admin, {"text": text}, door="api")
    job = Job.objects.get(id=imported_id("needs_ok"))
    assert (job.submitted_by, job.imported_by) == ("someone-else", "admin")

    refused = api("admin").post(f"/api/jobs/{job.id}/approve", {"reason": "mine, but it says otherwise"})

    assert refused.status_code == 403
    denied = AuditEntry.objects.filter(action="job.approve").get()
    assert (denied.outcome, denied.reason) == (
        "denied",
        "approvers cannot approve or reject a job they submitted or imported",
    )
    assert api("approver").post(f"/api/jobs/{job.id}/approve", {}).status_code == 200  # four eyes: another approves


def test_it_never_imports_a_second_active_run_of_a_job(cli):
    job, _ = job_submit(actor=cli, entrypoint="demo.noop", params={"n": 1})
    running = job_claim_next(worker="tests")
    assert running.id == job.id
    text = export_text()

    # The job is here: its line is a duplicate, and changes nothing.
    again = jsonl_import(actor=cli, text=text)
    assert (again["imported"], again["duplicates"]) == (0, 1)
    assert list(Job.objects.values_list("id", "status")) == [(job.id, "running")]

    # Its row is gone while its code still runs (a store wiped under it): the line comes in
    # failed, into the DLQ with a note, and nothing admits it beside the run still going.
    Job.objects.filter(id=job.id).delete()
    report = jsonl_import(actor=cli, text=text)

    assert (report["imported"], report["interrupted"]) == (1, 1)
    imported = Job.objects.get(id=job.id)
    assert (imported.status, imported.status_reason) == ("failed", INTERRUPTED)
    assert DLQEntry.objects.get(job_id=job.id).reason == INTERRUPTED
    assert not Job.objects.active().exists()
    assert job_claim_next(worker="another") is None
