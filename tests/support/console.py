"""Factories and helpers for the console's view tests."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils import timezone

from jobs.models import AdmissionSlot, DLQEntry, Event, Job, Priority, Status, WorkerHeartbeat
from jobs.services.dlq import error_fingerprint


def make_job(**fields: Any) -> Job:
    """A job row as the engine would leave it (test data; the app changes jobs only in services)."""
    now = timezone.now()
    defaults: dict[str, Any] = {
        "job_key": f"test:{uuid.uuid4().hex}",
        "entrypoint": "demo.noop",
        "params": {"n": 1},
        "priority": Priority.NORMAL,
        "status": Status.QUEUED,
        "created_at": now,
        "updated_at": now,
    }
    defaults.update(fields)
    if defaults["status"] == Status.WAITING_APPROVAL and "approval_expires_at" not in fields:
        defaults["approval_expires_at"] = now + timedelta(hours=24)
    return Job.objects.create(**defaults)


def make_dlq_entry(error: str = "RuntimeError: boom", **fields: Any) -> DLQEntry:
    job = make_job(status=Status.FAILED, attempts=3, last_error=error, completed_at=timezone.now(), **fields)
    entry = DLQEntry.of(
        job, reason="Max attempts reached", attempts=3, last_error=error, fingerprint=error_fingerprint(error)
    )
    entry.save(force_insert=True)
    return entry


def make_dead_letters(count: int, *, prefix: str = "dead") -> list[uuid.UUID]:
    """``count`` failed jobs with their DLQ entries, written in bulk (as an import would): a large DLQ fast."""
    now = timezone.now()
    jobs = Job.objects.bulk_create(
        [
            Job(
                job_key=f"{prefix}:{n}",
                entrypoint="demo.noop",
                params={"n": n},
                status=Status.FAILED,
                attempts=3,
                last_error="RuntimeError: upstream down",
                created_at=now,
                updated_at=now,
                completed_at=now,
            )
            for n in range(count)
        ],
        batch_size=2000,
    )
    DLQEntry.objects.bulk_create(
        [
            DLQEntry.of(
                job, reason="Max attempts exceeded (3/3)", attempts=3, last_error=job.last_error, fingerprint="f"
            )
            for job in jobs
        ],
        batch_size=2000,
    )
    return [job.id for job in jobs]


def live_worker(name: str = "w1@test:1") -> WorkerHeartbeat:
    """A worker process that has just beaten, as a running worker leaves its row."""
    now = timezone.now()
    return WorkerHeartbeat.objects.create(name=name, hostname="test", pid=1, started_at=now, last_seen=now)


def bulk_jobs(count: int, **fields: Any) -> None:
    """Many jobs in one INSERT, with DLQ entries and events for some, for query-count tests."""
    now = timezone.now()
    statuses = [
        Status.QUEUED,
        Status.RUNNING,
        Status.SUCCEEDED,
        Status.FAILED,
        Status.CANCELED,
        Status.WAITING_APPROVAL,
    ]
    jobs = []
    for i in range(count):
        status = fields.get("status", statuses[i % len(statuses)])
        jobs.append(
            Job(
                job_key=f"bulk:{uuid.uuid4().hex}",
                entrypoint="demo.noop",
                params={"i": i},
                priority=i % 4,
                status=status,
                last_error="RuntimeError: boom" if status == Status.FAILED else "",
                issue_id=str(i) if status == Status.WAITING_APPROVAL else "",
                approval_expires_at=now + timedelta(minutes=30 + i) if status == Status.WAITING_APPROVAL else None,
                submitted_by="operator",
                created_at=now - timedelta(seconds=i),
                updated_at=now,
            )
        )
    Job.objects.bulk_create(jobs, batch_size=2000)
    failed = [job for job in jobs if job.status == Status.FAILED]
    DLQEntry.objects.bulk_create(
        [
            DLQEntry.of(
                job,
                reason="Max attempts reached",
                attempts=3,
                last_error=job.last_error,
                fingerprint=error_fingerprint(f"error {i % 5}"),
            )
            for i, job in enumerate(failed)
        ],
        batch_size=2000,
    )
    Event.objects.bulk_create(
        [
            Event(type="job:succeeded", job_id=job.id, created_at=now - timedelta(seconds=i % 3600))
            for i, job in enumerate(jobs)
            if job.status == Status.SUCCEEDED
        ],
        batch_size=2000,
    )
    WorkerHeartbeat.objects.bulk_create(
        [
            WorkerHeartbeat(
                name=f"w{i}@test:{i}",
                hostname="test",
                pid=i,
                started_at=now - timedelta(hours=1),
                last_seen=now,
                processed=i,
            )
            for i in range(20)
        ]
    )
    AdmissionSlot.objects.bulk_create(
        AdmissionSlot(number=i + 1, job_id=jobs[i].id, worker=f"w{i}@test:{i}", claimed_at=now) for i in range(20)
    )


def login(client: Client, user) -> Client:
    # force_login: django-axes refuses Client.login (it needs a request); the login
    # form itself is tested with real POSTs in test_views_auth.py.
    client.force_login(user)
    return client


SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}


def _route(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], str(pattern))
    text = str(pattern.regex.pattern).lstrip("^").rstrip("$").replace("\\Z", "")
    text = re.sub(r"\(\?P<\w+>[^)]*\)", "1", text)
    return text.replace("\\", "")


def all_paths(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    """Every path of the URL conf, converters filled with sample values (no leading slash)."""
    resolver = resolver or get_resolver()
    paths = []
    for entry in resolver.url_patterns:
        path = prefix + _route(entry.pattern)
        if isinstance(entry, URLResolver):
            paths.extend(all_paths(entry, path))
        elif isinstance(entry, URLPattern) and "(" not in path:
            # A regex the sample values could not fill (none in this project) would show here.
            paths.append(path)
    return sorted(set(paths))


def previewed(action: str, target: Any = None, **posted: Any) -> str:
    """The token of a bulk action's preview as it stands now: what its confirming form sends back."""
    from jobs.actions.perform import action_named

    preview = action_named(action).preview
    assert preview is not None, f"{action} has no preview"
    return preview(target, posted).token


_PREVIEWED = re.compile(r'name="previewed" value="([^"]+)"')


def post_confirmed(client: Client, url: str, data: dict[str, Any] | None = None, **kwargs: Any):
    """Post a console action as a person does: a bulk action's first post shows its preview; confirm it."""
    data = dict(data or {})
    first = client.post(url, data, **kwargs)
    shown = _PREVIEWED.search(first.content.decode()) if first.status_code == 200 else None
    if shown is None:
        return first
    return client.post(url, {**data, "previewed": shown.group(1)}, **kwargs)
