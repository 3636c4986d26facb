"""Every console page and API read at a million jobs: p50 / p95 server time and queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jobsconsole .venv/bin/python benchmarks/scale.py

Creates a throwaway database (<name>_scale) next to DATABASE_URL's. For each size
(``--sizes``, default 10,000 and 1,000,000 jobs) it empties the tables, loads that
many jobs (800 queued and 200 waiting for approval at every size; of the rest 86 %
succeeded, 10 % failed with a DLQ entry each, 4 % canceled), one event per job and as many audit entries
(``--audit``, hash-chained like the real trail), then asks every page and endpoint
``--requests`` times (default 20) in this process through Django's test client,
logged in as an admin or with an admin's token, and prints p50 / p95 and the
queries each answer made. Last, it appends 1,000 audit entries and times the
incremental verification over the trail.

Server time only: no HTTP, no network. The last table puts the largest size next
to the smallest: a ratio near 1 means the cost does not grow with the table.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import percentile, table  # noqa: E402

# Shares of the finished jobs by status. The live ones (queued, waiting for approval)
# are as many at every size, so that the pages that list them show as many rows.
SUCCEEDED, FAILED, CANCELED = 0.86, 0.10, 0.039
QUEUED, WAITING = 800, 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000", help="job counts, comma-separated")
    parser.add_argument("--audit", type=int, default=None, help="audit entries per size (default: the job count)")
    parser.add_argument("--requests", type=int, default=20, help="requests per page (default 20)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--only", default="", help="measure only the pages and endpoints whose name holds this")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL=postgres://... (a throwaway database is created next to it)", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsconsole.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from jobsconsole.celery import app

    app.conf.broker_url = "memory://localhost/"  # nothing here runs jobs
    # Pages are rendered without collectstatic: plain static URLs, no manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_scale"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        results = {}
        for size in [int(s) for s in args.sizes.split(",")]:
            results[size] = run_size(size, args.audit if args.audit is not None else size, args.requests, args.only)
        if len(results) > 1:
            compare(results)
        return 0
    finally:
        if not args.keep:
            connection.close()
            connection.creation.destroy_test_db(db["NAME"].removeprefix("test_"), verbosity=0)


def run_size(jobs: int, audit: int, requests: int, only: str = "") -> dict[str, tuple[float, float, int]]:
    print(f"\n== {jobs:,} jobs, {audit:,} audit entries ==", flush=True)
    started = time.monotonic()
    load_jobs(jobs)
    loaded = time.monotonic() - started
    from jobs.models import DLQEntry

    dlq = DLQEntry.objects.count()
    print(f"loaded {jobs:,} jobs, {dlq:,} DLQ entries and {jobs:,} events in {loaded:.1f} s")
    started = time.monotonic()
    load_audit(audit)
    print(f"loaded {audit:,} audit entries in {time.monotonic() - started:.1f} s", flush=True)
    figures = measure_pages(requests, only)
    table(
        f"{jobs:,} jobs: server time over {requests} requests",
        ["page / endpoint", "p50 ms", "p95 ms", "queries"],
        [[name, f"{p50:.1f}", f"{p95:.1f}", queries] for name, (p50, p95, queries) in figures.items()],
    )
    measure_audit_verify()
    return figures


def load_jobs(count: int) -> None:
    """Empty the job tables, then fill them in a few set-based statements."""
    from django.db import connection

    live = min(QUEUED + WAITING, count // 10)
    finished = count - live
    succeeded = round(finished * SUCCEEDED / (SUCCEEDED + FAILED + CANCELED))
    failed = succeeded + round(finished * FAILED / (SUCCEEDED + FAILED + CANCELED))
    canceled = finished
    waiting = canceled + round(live * QUEUED / (QUEUED + WAITING))
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE jobs_job, jobs_dlqentry, jobs_event, jobs_auditentry, jobs_auditcheckpoint, jobs_tally, "
            "jobs_jobrollup "
            "RESTART IDENTITY"
        )
        cursor.execute("UPDATE jobs_auditchainhead SET last_hash = %s", ["0" * 64])
        cursor.execute(
            """
            INSERT INTO jobs_job (id, job_key, entrypoint, params, priority, status, attempts, max_attempts,
                last_error, status_reason, issue_id, approval_expires_at, approved_by, created_at, updated_at,
                started_at, completed_at, next_attempt_at, worker, submitted_by, imported_by)
            SELECT gen_random_uuid(), 'scale-' || g,
                (ARRAY['demo.noop', 'demo.sleep', 'reports.build', 'mail.send'])[1 + g %% 4],
                jsonb_build_object('n', g, 'region', (ARRAY['eu', 'us', 'ap'])[1 + g %% 3]),
                g %% 4, s.status, CASE WHEN s.status = 'failed' THEN 3 ELSE 1 END, 3,
                CASE WHEN s.status = 'failed' THEN 'ValueError: row ' || g || ' failed' ELSE '' END, '',
                CASE WHEN s.status = 'waiting_approval' THEN 'acme/ops#' || g ELSE '' END,
                CASE WHEN s.status = 'waiting_approval' THEN now() + (g %% 48) * interval '1 hour' END, '',
                t.at, t.at, t.at, CASE WHEN s.final THEN t.at + interval '1.2 s' END, t.at, '', 'scale', ''
            FROM generate_series(1, %(count)s) AS g,
                LATERAL (SELECT now() - (%(count)s - g) * (interval '7 days' / %(count)s) AS at) AS t,
                LATERAL (SELECT CASE WHEN g <= %(succeeded)s THEN 'succeeded' WHEN g <= %(failed)s THEN 'failed'
                    WHEN g <= %(canceled)s THEN 'canceled' WHEN g <= %(waiting)s THEN 'queued'
                    ELSE 'waiting_approval' END AS status, g <= %(canceled)s AS final) AS s
            """,
            {"count": count, "succeeded": succeeded, "failed": failed, "canceled": canceled, "waiting": waiting},
        )
        cursor.execute(
            """
            INSERT INTO jobs_dlqentry (job_id, entrypoint, reason, attempts, last_error, fingerprint, added_at)
            SELECT id, entrypoint, 'max_attempts', attempts, last_error, substr(md5(entrypoint), 1, 16), completed_at
            FROM jobs_job WHERE status = 'failed'
            """
        )
        cursor.execute(
            """
            INSERT INTO jobs_event (type, job_id, data, created_at)
            SELECT 'job:' || status, id, '{}', coalesce(completed_at, created_at) FROM jobs_job
            """
        )
        cursor.execute(rollup_seed())
        cursor.execute("ANALYZE jobs_job; ANALYZE jobs_dlqentry; ANALYZE jobs_event; ANALYZE jobs_jobrollup")


def rollup_seed() -> str:
    """The History rollups of the loaded jobs, one row per (hour, entry point), as folded ones are.

    The loaded jobs were inserted as they end, so no trigger saw them run: this writes what
    the trigger and the folding would have left for their runs and admissions.
    """
    from jobs.models import ROLLUP_BOUNDS_MS, ROLLUP_BUCKET_NAMES

    def histogram(value: str) -> str:
        counts, lower = [], None
        for bound in ROLLUP_BOUNDS_MS:
            within = f"{value} <= {bound}" if lower is None else f"{value} > {lower} AND {value} <= {bound}"
            counts.append(f"count(*) FILTER (WHERE {within})")
            lower = bound
        return ", ".join([*counts, f"count(*) FILTER (WHERE {value} > {lower})"])

    columns = ", ".join(f"{kind}_le_{name}" for kind in ("run", "wait") for name in ROLLUP_BUCKET_NAMES)
    run = "extract(epoch FROM completed_at - started_at) * 1000"
    wait = "extract(epoch FROM started_at - greatest(created_at, next_attempt_at)) * 1000"
    return f"""
        INSERT INTO jobs_jobrollup (bucket_start, entrypoint, succeeded, failed, retried, run_count, run_ms,
            wait_count, wait_ms, {columns})
        SELECT date_trunc('hour', completed_at, 'UTC'), entrypoint, count(*) FILTER (WHERE status = 'succeeded'),
            count(*) FILTER (WHERE status = 'failed'), 0, count(*), round(sum({run})), count(*), round(sum({wait})),
            {histogram(run)}, {histogram(wait)}
        FROM jobs_job WHERE status IN ('succeeded', 'failed') AND completed_at > now() - interval '8 days'
        GROUP BY 1, 2
    """  # noqa: S608 - composed of constants


def load_audit(count: int) -> None:
    """``count`` entries spread over the trail's chains, each linked to the one before (COPY)."""
    from django.conf import settings
    from django.db import connection

    from jobs.models import AuditEntry, Job
    from jobs.services.audit import AUDIT_CHAINS, GENESIS_HASH, entry_digest

    # A trail made anew gets anchors of its own: anchors of the checkout's var/, or of the size
    # before, name entries this trail does not hold, and verification would call it tampered
    # with (and, finding it broken, never set the checkpoint the incremental check starts from).
    settings.JOBS_AUDIT_ANCHOR_FILE = Path(tempfile.mkdtemp(prefix="jobs-scale-")) / "audit-anchors.jsonl"
    heads = dict.fromkeys(range(1, AUDIT_CHAINS + 1), GENESIS_HASH)

    # Each entry records a job's submission, when it was submitted: the trail names real jobs,
    # spread over the week as they are (for the timeline's filters by job and entry point).
    def submissions():
        while True:
            yield from Job.objects.order_by("created_at", "id").values_list("id", "created_at").iterator(20_000)

    submitted = submissions()
    rows = io.StringIO()
    for n in range(count):
        chain = 1 + n % AUDIT_CHAINS
        job_id, at = next(submitted)
        entry = AuditEntry(
            created_at=at,
            actor="scale",
            source="system",
            action="job.submit",
            object_type="job",
            object_ids=[str(job_id)],
            chain=chain,
            prev_hash=heads[chain],
        )
        entry.hash = heads[chain] = entry_digest(entry)
        rows.write(
            f"{at.isoformat()}\tscale\tsystem\tjob.submit\tok\tjob\t"
            f'["{job_id}"]\t\t\\N\t\\N\t\t\t{chain}\t{entry.prev_hash}\t{entry.hash}\n'
        )
    columns = (
        "created_at, actor, source, action, outcome, object_type, object_ids, reason, before, after, ip, "
        "user_agent, chain, prev_hash, hash"
    )
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY jobs_auditentry ({columns}) FROM STDIN") as copy:
            copy.write(rows.getvalue())
        for chain, last_hash in heads.items():
            cursor.execute("UPDATE jobs_auditchainhead SET last_hash = %s WHERE id = %s", [last_hash, chain])
        cursor.execute("ANALYZE jobs_auditentry")


def pages() -> dict[str, tuple[str, dict[str, str]]]:
    """Name -> (path, extra headers) of every read a console user or an API client makes."""
    from datetime import timedelta
    from urllib.parse import urlencode

    from django.utils import timezone

    from jobs.models import Job

    job = Job.objects.filter(status="failed").only("id").first()
    refresh = {"HTTP_HX_REQUEST": "true"}
    week = incident_week()
    six_days = "/api/incident?" + urlencode({"since": (timezone.now() - timedelta(days=6)).isoformat()})
    return {
        "dashboard /": ("/", {}),
        "dashboard / (5 s refresh)": ("/", refresh),
        "/jobs/": ("/jobs/", {}),
        "/jobs/?status=queued": ("/jobs/?status=queued", {}),
        "/jobs/?params=region=eu (a third of the jobs)": ("/jobs/?params=region%3Deu", {}),
        "/jobs/?params=n=4242 (one job)": ("/jobs/?params=n%3D4242", {}),
        "/jobs/<id>/": (f"/jobs/{job.id}/", {}),
        "/dlq/": ("/dlq/", {}),
        "/dlq/?view=groups": ("/dlq/?view=groups", {}),
        "/backpressure/": ("/backpressure/", {}),
        "/approvals/": ("/approvals/", {}),
        "/workers/": ("/workers/", {}),
        "/events/": ("/events/", {}),
        "/emergency/": ("/emergency/", {}),
        "/audit/": ("/audit/", {}),
        "/audit/verify (since the checkpoint)": ("/audit/verify", refresh),
        "/config/": ("/config/", {}),
        "/history/": ("/history/", {}),
        "/history/?window=7d&entrypoint=reports.build": ("/history/?window=7d&entrypoint=reports.build", {}),
        "/incident/ (the last hour)": ("/incident/", {}),
        "/incident/ (6 days, events, load more)": (f"/incident/?{week}", refresh),
        "GET /api/health": ("/api/health", {}),
        "GET /api/queue/stats": ("/api/queue/stats", {}),
        "GET /api/store/stats": ("/api/store/stats", {}),
        "GET /api/workers": ("/api/workers", {}),
        "GET /api/config": ("/api/config", {}),
        "GET /api/jobs": ("/api/jobs", {}),
        "GET /api/jobs?status=failed": ("/api/jobs?status=failed", {}),
        "GET /api/jobs/{id}": (f"/api/jobs/{job.id}", {}),
        "GET /api/dlq": ("/api/dlq", {}),
        "GET /api/dlq?params.region=eu": ("/api/dlq?params.region=eu", {}),
        "GET /api/jobs?params.region=eu&status=failed": ("/api/jobs?params.region=eu&status=failed", {}),
        "GET /api/approvals": ("/api/approvals", {}),
        "GET /api/events": ("/api/events", {}),
        "GET /api/audit": ("/api/audit", {}),
        "GET /api/history": ("/api/history", {}),
        "GET /api/history?window=7d": ("/api/history?window=7d", {}),
        "GET /api/incident": ("/api/incident", {}),
        "GET /api/incident (6 days, events, next page)": (f"/api/incident?{week}", {}),
        "GET /api/incident (6 days, a quarter's entry point)": (
            f"/api/incident?{six_days}&entrypoint=reports.build",
            {},
        ),
        "GET /api/incident (6 days, an entry point with no job)": (
            f"/api/incident?{six_days}&entrypoint=billing.sync",
            {},
        ),
        "GET /api/incident (6 days, one job)": (f"{six_days}&job={job.id}", {}),
        "GET /metrics": ("/metrics", {}),
    }


def incident_week() -> str:
    """The query of the incident timeline's second page over six days of events (a long window, paged)."""
    from datetime import timedelta
    from urllib.parse import urlencode

    from django.utils import timezone

    from jobs.selectors.timeline import timeline_page, timeline_window

    until = timezone.now()
    window = {"since": (until - timedelta(days=6)).isoformat(), "until": until.isoformat(), "kind": "event"}
    cursor = timeline_page(timeline_window(**window)).next_cursor
    return urlencode({**window, "cursor": cursor})


# Bulk dry runs (POST /api/jobs/bulk): each freezes its jobs into a selection of its own. At a
# million jobs the failed ones are 10 %: the first freezes about 100,000 DLQ entries.
DRY_RUNS = {
    "POST /api/jobs/bulk retry status=failed (dry run, 10 % of the jobs)": {
        "action": "retry",
        "filter": {"status": "failed"},
    },
    "POST /api/jobs/bulk retry status=failed&params region=eu (dry run)": {
        "action": "retry",
        "filter": {"status": "failed", "params": "region=eu"},
    },
    "POST /api/jobs/bulk cancel, every active job (dry run)": {"action": "cancel", "filter": {}},
}


def measure_pages(requests: int, only: str = "") -> dict[str, tuple[float, float, int]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from jobs.roles import ensure_roles
    from jobs.services.audit import Actor
    from jobs.services.tokens import token_create

    ensure_roles()
    admin, _ = get_user_model().objects.get_or_create(username="scale-admin")
    admin.groups.set(admin.groups.model.objects.filter(name="admin"))
    _, secret = token_create(actor=Actor.system(), user=admin, name="scale")
    browser = Client()
    browser.force_login(admin)
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    figures = {}
    asked = {name: ("GET", path, headers) for name, (path, headers) in pages().items()}
    asked |= {name: ("POST", "/api/jobs/bulk", body) for name, body in DRY_RUNS.items()}
    for name, (method, path, headers) in asked.items():
        if only not in name:
            continue
        client = api if path.startswith(("/api/", "/metrics")) else browser
        times, queries = [], 0
        for n in range(requests + 1):  # the first one warms caches and is not counted
            connection.queries_log.clear()  # a full log (9000 queries) would count none
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                if method == "POST":
                    response = client.post(path, headers, content_type="application/json")
                else:
                    response = client.get(path, **headers)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != {"GET": 200, "POST": 201}[method]:
                raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
            if n:
                times.append(elapsed)
                queries = len(captured)
        figures[name] = (percentile(times, 50), percentile(times, 95), queries)
    return figures


def measure_audit_verify() -> None:
    """Verify the whole trail once (setting the checkpoint), append 1,000 entries, verify again."""
    from django.db import transaction

    from jobs.services.audit import Actor, audit_record, audit_verify, audit_verify_since_checkpoint

    started = time.monotonic()
    full = audit_verify()
    full_seconds = time.monotonic() - started
    actor = Actor.system("scale")
    for n in range(1000):
        with transaction.atomic():
            audit_record(actor, action="job.submit", object_type="job", object_ids=[f"new-{n}"])
    started = time.monotonic()
    incremental = audit_verify_since_checkpoint()
    incremental_seconds = time.monotonic() - started
    assert full.ok and incremental.ok, (full, incremental)
    table(
        "audit verification",
        ["verification", "entries checked", "seconds"],
        [
            ["full (sets the checkpoint)", full.checked, f"{full_seconds:.2f}"],
            ["incremental, after 1,000 new entries", incremental.checked, f"{incremental_seconds:.3f}"],
        ],
    )


def compare(results: dict[int, dict[str, tuple[float, float, int]]]) -> None:
    small, large = min(results), max(results)
    rows = []
    for name, (p50_large, p95_large, queries) in results[large].items():
        p50_small, p95_small, _ = results[small][name]
        rows.append(
            [
                name,
                f"{p95_small:.1f}",
                f"{p95_large:.1f}",
                f"{p50_large / p50_small:.2f}",
                f"{p95_large / p95_small:.2f}",
                queries,
            ]
        )
    table(
        f"{large:,} jobs next to {small:,}",
        ["page / endpoint", f"p95 ms at {small:,}", f"p95 ms at {large:,}", "p50 ratio", "p95 ratio", "queries"],
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
