"""The engine next to bare Celery, measured in one run, with ratios (`make bench`).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jobsconsole REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python benchmarks/run.py [--only noop,scale,api,bulk] [--jobs 2000] ...

It creates a throwaway database (<name>_bench) next to DATABASE_URL's and uses
REDIS_URL's database as its own (it deletes the queues' lists there between
runs). Every process it starts (Celery workers, gunicorn) it stops by pid. The
bare baseline is benchmarks/bare_celery.py: its own app and queue on the same
Redis, with the engine's Celery settings. Sections (all by default):

noop   No-op jobs end to end. For each pool (prefork -c 2, solo) and round
       (ours, bare, ours, bare, ...: --rounds, medians reported), one warm worker
       process, then N submissions one by one from this process (ours:
       job_submit of demo.noop; bare: noop.delay()). "submit" = N / producer
       time; "run" = N / (last finish - first start); "end to end" = N / (last
       finish - first submission). The ratio is ours / bare.
scale  demo.sleep jobs (0.05 s, maxConcurrent 50) submitted first, then 1, 2, 4
       worker processes of prefork -c 4 (the queue is held aside until every
       process answers, so none starts early); jobs/s = N / (last finish - first
       start), from the jobs' own timestamps. The same with a bare sleep task.
       Goal: 4 processes / 1 process >= 3.
api    gunicorn (DEBUG=0) on 127.0.0.1, closed-loop clients with a bearer token:
       a cheap authenticated GET (--api-get-path), then the same load of
       POST /api/jobs (unique params). p50/p95/p99 latency, req/s, and
       submit req/s / GET req/s. No workers: the jobs just queue.
bulk   job_submit_many in batches (skipped while it does not exist), next to a
       sample of one-by-one job_submit calls. Goal: >= 5000 jobs/s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import bare_celery as bare  # noqa: E402
from benchmarks import harness as h  # noqa: E402
from benchmarks.http_load import get_status, run_load  # noqa: E402

SECTIONS = ("noop", "scale", "api", "bulk", "retry")
MAX_QUEUE_SIZE = 10_000_000  # jobsconfig's upper bound
ENGINE_KEYS = ("jobs:*",)  # the engine's keys in Redis (today its wake-up gate, jobs:wakeups:outstanding)


@dataclass
class Bench:
    args: argparse.Namespace
    env: dict[str, str]  # for our processes (bench database)
    bare_env: dict[str, str]  # for bare workers: no Django
    logs: Path
    broker: object  # redis.Redis on REDIS_URL


def parse_args() -> argparse.Namespace:
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    p.add_argument("--timeout", type=float, default=600, help="seconds any one wait may take (default 600)")
    p.add_argument("--jobs", type=int, default=2000, help="noop: jobs per round (default 2000)")
    p.add_argument("--rounds", type=int, default=3, help="noop: interleaved rounds per pool (default 3)")
    p.add_argument("--pools", default="prefork:2,solo:1", help="noop: pool:concurrency list (default prefork:2,solo:1)")
    p.add_argument("--max-concurrent", type=int, default=3, help="noop: queue.maxConcurrent (default 3)")
    p.add_argument("--noop-modes", default=",".join(NOOP_MODES), help="noop: one,bulk,drain (default all)")
    p.add_argument("--scale-jobs", type=int, default=400, help="scale: jobs per run (default 400)")
    p.add_argument("--scale-procs", default="1,2,4", help="scale: worker process counts (default 1,2,4)")
    p.add_argument("--scale-concurrency", type=int, default=4, help="scale: prefork -c per process (default 4)")
    p.add_argument("--scale-seconds", type=float, default=0.05, help="scale: demo.sleep seconds (default 0.05)")
    p.add_argument("--scale-max-concurrent", type=int, default=50, help="scale: queue.maxConcurrent (default 50)")
    p.add_argument("--api-requests", type=int, default=3000, help="api: requests per endpoint (default 3000)")
    p.add_argument("--api-clients", type=int, default=50, help="api: concurrent clients (default 50)")
    p.add_argument("--api-workers", type=int, default=2 * cores + 1, help="api: gunicorn workers (default 2*cores+1)")
    p.add_argument("--api-get-path", default="/api/config", help="api: the GET compared with (default /api/config)")
    p.add_argument("--bulk-jobs", type=int, default=100_000, help="bulk: jobs (default 100000)")
    p.add_argument("--bulk-batch", type=int, default=1000, help="bulk: jobs per job_submit_many call (default 1000)")
    p.add_argument("--retry-entries", type=int, default=100_000, help="retry: DLQ entries (default 100000)")
    p.add_argument("--bulk-single", type=int, default=500, help="bulk: one-by-one job_submit sample (default 500)")
    args = p.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        p.error(f"--only: unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return args


def setup(args: argparse.Namespace) -> Bench:
    """Bench database, migrated; Django set up in this process (the producer)."""
    import redis

    os.environ["DATABASE_URL"] = h.bench_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsconsole.settings")
    logs = Path(tempfile.mkdtemp(prefix="jobs-bench-"))
    os.environ["JOBS_EXPORT_DIR"] = str(logs / "exports")
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    bare_env = {key: value for key, value in env.items() if key != "DJANGO_SETTINGS_MODULE"}

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return Bench(args, env, bare_env, logs, redis.Redis.from_url(os.environ["REDIS_URL"]))


# Our engine: only stable names (job_submit, Actor, config_update, Job, Status).
def actor():
    from jobs.services.audit import Actor

    return Actor.cli("bench")


def configure(**queue) -> None:
    from jobs.services.config import config_update

    config_update(actor=actor(), changes={"queue": queue})


def reset(b: Bench) -> None:
    """Empty our job tables (a benchmark may TRUNCATE) and both queues; every worker is stopped by then."""
    from django.apps import apps
    from django.db import connection

    tables = []
    for name in ("Job", "Event", "DLQEntry", "AdmissionSlot", "WorkerHeartbeat"):
        try:
            tables.append(connection.ops.quote_name(apps.get_model("jobs", name)._meta.db_table))
        except LookupError:
            continue
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    # ENGINE_KEYS: the engine's own Redis state (its wake-up gate counts the messages just dropped).
    h.flush_queues(b.broker, h.OUR_QUEUE, bare.QUEUE, extra=(bare.DONE_KEY, bare.TIMES_KEY), patterns=ENGINE_KEYS)


def submit(entrypoint: str, params: dict) -> None:
    from jobs.services.submission import job_submit

    job_submit(actor=actor(), entrypoint=entrypoint, params=params)


def heartbeats() -> int:
    from django.apps import apps

    try:
        return apps.get_model("jobs", "WorkerHeartbeat").objects.count()
    except LookupError:
        return -1


@contextmanager
def stopped_on_error(workers: list[subprocess.Popen]):
    """Workers that never became ready are stopped before the error goes on (the next section runs)."""
    try:
        yield
    except BaseException:
        h.stop(workers)
        raise


def start_ours(b: Bench, procs: int, pool: str, concurrency: int) -> list[subprocess.Popen]:
    """`procs` engine workers, consuming and with every pool process announced (heartbeat rows)."""
    from jobsconsole.celery import app

    workers = [
        h.celery_worker(
            "jobsconsole",
            name=f"ours{i}",
            pool=pool,
            concurrency=concurrency,
            queue=h.OUR_QUEUE,
            env=b.env,
            log=b.logs / f"ours-{pool}-{i}.log",
        )
        for i in range(1, procs + 1)
    ]
    expected = procs * (1 if pool == "solo" else concurrency)
    with stopped_on_error(workers):
        h.wait_for_ping(app, procs, timeout=b.args.timeout, alive=workers)
        try:
            h.wait_until(lambda: heartbeats() >= expected, timeout=30, what=f"{expected} heartbeat rows", alive=workers)
        except SystemExit as exc:  # an engine that names its processes otherwise: the ping sufficed
            print(f"    note: {exc}; going on")
    return workers


def start_bare(b: Bench, procs: int, pool: str, concurrency: int) -> list[subprocess.Popen]:
    workers = [
        h.celery_worker(
            "benchmarks.bare_celery",
            name=f"bare{i}",
            pool=pool,
            concurrency=concurrency,
            queue=bare.QUEUE,
            env=b.bare_env,
            log=b.logs / f"bare-{pool}-{i}.log",
        )
        for i in range(1, procs + 1)
    ]
    with stopped_on_error(workers):
        h.wait_for_ping(bare.app, procs, timeout=b.args.timeout, alive=workers)
    return workers


def job_counts() -> dict[str, int]:
    from django.db.models import Count

    from jobs.models import Job

    return dict(Job.objects.values_list("status").annotate(n=Count("id")).order_by())


def wait_ours(b: Bench, count: int, workers) -> None:
    """Until `count` jobs succeeded; stops at once if one failed or was canceled."""
    from jobs.models import Job, Status

    def done() -> bool:
        counts = job_counts()
        if counts.get(Status.FAILED) or counts.get(Status.CANCELED):
            error = Job.objects.exclude(last_error="").values_list("last_error", flat=True).first()
            raise SystemExit(f"jobs did not succeed: {counts}; an error: {error} (logs in {b.logs})")
        return counts.get(Status.SUCCEEDED, 0) >= count

    h.wait_until(done, timeout=b.args.timeout, what=f"{count} jobs to succeed (logs in {b.logs})", alive=workers)


def ours_span(since: float | None = None) -> tuple[float, float]:
    """(first started_at, last completed_at) of the jobs created since `since`, as epoch seconds."""
    from django.db.models import Max, Min

    from jobs.models import Job

    jobs = (
        Job.objects.all() if since is None else Job.objects.filter(created_at__gte=datetime.fromtimestamp(since, UTC))
    )
    span = jobs.aggregate(first=Min("started_at"), last=Max("completed_at"))
    return span["first"].timestamp(), span["last"].timestamp()


def bare_done() -> int:
    return int(bare.client().get(bare.DONE_KEY) or 0)


def wait_bare(b: Bench, count: int, workers) -> None:
    h.wait_until(lambda: bare_done() >= count, timeout=b.args.timeout, what=f"{count} bare tasks", alive=workers)


def bare_span() -> tuple[float, float]:
    times = dict(bare.client().zrange(bare.TIMES_KEY, 0, -1, withscores=True))
    return times[b"first"], times[b"last"]


def rates(n: int, t0: float, submitted: float, span: tuple[float, float], drained: bool = False) -> dict[str, float]:
    """drained: the work ran after submission ended, so "end to end" is the run alone (no worker start-up)."""
    first, last = span
    e2e_start = first if drained else t0
    return {
        "submit": n / (submitted - t0),
        "run": n / (last - first),
        "e2e": n / (last - e2e_start),
        "seconds": last - e2e_start,
    }


# 1. No-op jobs end to end, ours and bare interleaved.
NOOP_MODES = ("one", "bulk", "drain")
BULK_BATCH = 100


def _submit_bulk(tag: str, count: int) -> None:
    from jobs.services.submission import job_submit_many

    for start in range(0, count, BULK_BATCH):
        job_submit_many(
            actor=actor(),
            submissions=[
                {"entrypoint": "demo.noop", "params": {"round": tag, "n": n}}
                for n in range(start, min(start + BULK_BATCH, count))
            ],
        )


def ours_noop_round(b: Bench, pool: str, concurrency: int, tag: str, mode: str) -> dict[str, float]:
    """mode one: job_submit one by one; bulk: job_submit_many of 100; drain: all queued before the worker starts."""
    reset(b)
    if mode == "drain":
        t0 = time.time()
        _submit_bulk(tag, b.args.jobs)
        submitted = time.time()
        workers = start_ours(b, 1, pool, concurrency)
        try:
            wait_ours(b, b.args.jobs, workers)
        finally:
            h.stop(workers)
        return rates(b.args.jobs, t0, submitted, ours_span(since=t0), drained=True)
    workers = start_ours(b, 1, pool, concurrency)
    try:
        for k in range(concurrency):  # warm every pool process and the producer's connections
            submit("demo.noop", {"round": tag, "warmup": k})
        wait_ours(b, concurrency, workers)
        t0 = time.time()
        if mode == "bulk":
            _submit_bulk(tag, b.args.jobs)
        else:
            for n in range(b.args.jobs):
                submit("demo.noop", {"round": tag, "n": n})
        submitted = time.time()
        wait_ours(b, b.args.jobs + concurrency, workers)
    finally:
        h.stop(workers)
    return rates(b.args.jobs, t0, submitted, ours_span(since=t0))


def bare_noop_round(b: Bench, pool: str, concurrency: int, mode: str) -> dict[str, float]:
    """Celery has no bulk publish: one .delay() per task in every mode; drain: all sent before the worker starts."""
    reset(b)
    if mode == "drain":
        t0 = time.time()
        for n in range(b.args.jobs):
            bare.noop.delay(n)
        submitted = time.time()
        workers = start_bare(b, 1, pool, concurrency)
        try:
            wait_bare(b, b.args.jobs, workers)
        finally:
            h.stop(workers)
        return rates(b.args.jobs, t0, submitted, bare_span(), drained=True)
    workers = start_bare(b, 1, pool, concurrency)
    try:
        for k in range(concurrency):
            bare.noop.delay(-1 - k)
        wait_bare(b, concurrency, workers)
        b.broker.delete(bare.DONE_KEY, bare.TIMES_KEY)  # the warm-ups have all recorded themselves
        t0 = time.time()
        for n in range(b.args.jobs):
            bare.noop.delay(n)
        submitted = time.time()
        wait_bare(b, b.args.jobs, workers)
    finally:
        h.stop(workers)
    return rates(b.args.jobs, t0, submitted, bare_span())


def noop_section(b: Bench) -> None:
    configure(maxConcurrent=b.args.max_concurrent, maxQueueSize=min(MAX_QUEUE_SIZE, b.args.jobs * 10))
    print(
        f"noop: {b.args.jobs} jobs per round, {b.args.rounds} interleaved rounds, maxConcurrent {b.args.max_concurrent}"
    )
    rows = []
    for mode in b.args.noop_modes.split(","):
        for spec in b.args.pools.split(","):
            pool, _, concurrency = spec.partition(":")
            label = f"{pool} -c {concurrency or 1}, {mode}"
            runs = {"ours": [], "bare": []}
            for r in range(1, b.args.rounds + 1):
                runs["ours"].append(ours_noop_round(b, pool, int(concurrency or 1), f"{pool}{mode}{r}", mode))
                runs["bare"].append(bare_noop_round(b, pool, int(concurrency or 1), mode))
                print(f"  {label} round {r}: " + "; ".join(f"{who} {_brief(runs[who][-1])}" for who in runs))
            rows += _noop_rows(label, runs)
    h.table(
        "noop: medians, jobs/s (ratio rows: ours / bare). one: ours submits one by one; bulk: ours in batches of "
        f"{BULK_BATCH}; drain: the queue filled first, run alone (bare always one .delay() per task)",
        ["pool, mode", "system", "submit", "run", "end to end", "seconds"],
        rows,
    )


def _brief(run: dict[str, float]) -> str:
    return f"{run['e2e']:.1f} jobs/s end to end (submit {run['submit']:.0f}/s, run {run['run']:.1f}/s)"


def _noop_rows(label: str, runs: dict[str, list[dict]]) -> list[list]:
    med = {who: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for who, rs in runs.items()}
    keys = ("submit", "run", "e2e", "seconds")
    return [
        [label, "ours", *(med["ours"][k] for k in keys)],
        [label, "bare", *(med["bare"][k] for k in keys)],
        [label, "ours/bare", *(h.ratio(med["ours"][k], med["bare"][k]) for k in keys)],
    ]


# 2. Scaling with worker processes, jobs that sleep.
def ours_scale_run(b: Bench, procs: int) -> dict[str, float]:
    reset(b)
    n = b.args.scale_jobs
    for i in range(n):
        submit("demo.sleep", {"seconds": b.args.scale_seconds, "procs": procs, "n": i})
    h.hold_queue(b.broker, h.OUR_QUEUE)
    workers = start_ours(b, procs, "prefork", b.args.scale_concurrency)
    try:
        h.release_queue(b.broker, h.OUR_QUEUE)
        wait_ours(b, n, workers)
    finally:
        h.stop(workers)
    first, last = ours_span()
    return {"rate": n / (last - first), "seconds": last - first}


def bare_scale_run(b: Bench, procs: int) -> dict[str, float]:
    reset(b)
    n = b.args.scale_jobs
    for i in range(n):
        bare.sleep.delay(b.args.scale_seconds, i)
    h.hold_queue(b.broker, bare.QUEUE)
    workers = start_bare(b, procs, "prefork", b.args.scale_concurrency)
    try:
        h.release_queue(b.broker, bare.QUEUE)
        wait_bare(b, n, workers)
    finally:
        h.stop(workers)
    first, last = bare_span()
    return {"rate": n / (last - first), "seconds": last - first}


def scale_section(b: Bench) -> None:
    a = b.args
    configure(maxConcurrent=a.scale_max_concurrent, maxQueueSize=min(MAX_QUEUE_SIZE, a.scale_jobs * 10))
    counts = [int(n) for n in a.scale_procs.split(",")]
    print(f"scale: {a.scale_jobs} jobs of {a.scale_seconds} s, prefork -c {a.scale_concurrency} per process")
    results = {}
    for procs in counts:
        results[procs] = (ours_scale_run(b, procs), bare_scale_run(b, procs))
        print(
            f"  {procs} process(es): ours {results[procs][0]['rate']:.1f} jobs/s, bare {results[procs][1]['rate']:.1f}"
        )
    ideal = a.scale_concurrency / a.scale_seconds  # jobs/s of one process if admission cost nothing
    rows = [
        [
            procs,
            procs * a.scale_concurrency,
            ours["rate"],
            theirs["rate"],
            h.ratio(ours["rate"], theirs["rate"]),
            ideal * procs,
        ]
        for procs, (ours, theirs) in results.items()
    ]
    low, high = min(counts), max(counts)
    ours_gain = h.ratio(results[high][0]["rate"], results[low][0]["rate"])
    bare_gain = h.ratio(results[high][1]["rate"], results[low][1]["rate"])
    rows.append([f"{high}/{low}", "", ours_gain, bare_gain, "", f"{high / low:.2f}"])
    h.table(
        f"scale: jobs/s (goal: ours {high}/{low} >= 3)",
        ["processes", "slots", "ours", "bare", "ours/bare", "ideal"],
        rows,
    )


# 3. The API's submit through gunicorn, next to a cheap authenticated GET.
def api_token(b: Bench) -> str:
    manage = [sys.executable, str(ROOT / "manage.py"), "jobs"]
    password = secrets.token_urlsafe(18)
    run = {"cwd": ROOT, "env": b.env, "check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run([*manage, "user", "add", "bench", "--role", "admin", "--password", password], **run)
    return subprocess.run([*manage, "token", "create", "bench"], **run).stdout.strip().splitlines()[-1]


def start_gunicorn(b: Bench, port: int) -> subprocess.Popen:
    env = dict(b.env, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(40), ALLOWED_HOSTS="127.0.0.1")
    argv = [str(h.BIN / "gunicorn"), "jobsconsole.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(b.args.api_workers)]
    argv += ["--log-level", "warning", "--backlog", "2048"]
    return h.spawn(argv, env=env, log=b.logs / "gunicorn.log")


def api_section(b: Bench) -> None:
    a = b.args
    configure(maxQueueSize=min(MAX_QUEUE_SIZE, a.api_requests * 100))
    reset(b)
    headers = {"Authorization": f"Bearer {api_token(b)}", "Content-Type": "application/json"}
    port = h.free_port()
    server = start_gunicorn(b, port)
    print(f"api: {a.api_requests} requests per endpoint, {a.api_clients} clients, {a.api_workers} gunicorn workers")
    try:
        h.wait_until(
            lambda: get_status(port, a.api_get_path, headers) == 200,
            timeout=60,
            what="gunicorn",
            every=0.5,
            alive=[server],
        )
        load = {"total": a.api_requests, "clients": a.api_clients, "headers": headers}
        run_load(port, lambda n: ("GET", a.api_get_path, None), **{**load, "total": a.api_clients * 4})  # warm-up
        get = run_load(port, lambda n: ("GET", a.api_get_path, None), **load)
        body = {"entrypoint": "demo.noop"}
        post = run_load(port, lambda n: ("POST", "/api/jobs", {**body, "params": {"api": n}}), **load)
    finally:
        h.stop([server])
    created = sum(job_counts().values())
    rows = [_api_row("POST /api/jobs", post, post.ok(201)), _api_row(f"GET {a.api_get_path}", get, get.ok(200))]
    rows.append(["submit / GET", "", "", "", h.ratio(post.rate, get.rate), ""])
    h.table(f"api: latency in ms ({created} jobs created)", ["request", "p50", "p95", "p99", "req/s", "ok"], rows)
    for name, result in (("POST", post), ("GET", get)):
        if result.ok(200, 201) != len(result.latencies_ms):
            print(f"  {name} statuses: {dict(result.statuses)} (gunicorn log: {b.logs / 'gunicorn.log'})")


def _api_row(name: str, result, ok: int) -> list:
    lat = result.latencies_ms
    return [name, h.percentile(lat, 50), h.percentile(lat, 95), h.percentile(lat, 99), result.rate, f"{ok}/{len(lat)}"]


# 4. Bulk submission.
def bulk_section(b: Bench) -> None:
    try:
        from jobs.services.submission import job_submit_many
    except ImportError:
        print("bulk: skipped: job_submit_many not available")
        return
    a = b.args
    configure(maxQueueSize=min(MAX_QUEUE_SIZE, (a.bulk_jobs + a.bulk_single) * 10))
    reset(b)
    started = time.perf_counter()
    for n in range(a.bulk_single):
        submit("demo.noop", {"single": n})
    single = a.bulk_single / (time.perf_counter() - started)
    reset(b)
    print(f"bulk: {a.bulk_jobs} jobs in batches of {a.bulk_batch}")
    batches, answered, refused = [], 0, 0
    started = time.perf_counter()
    for first in range(0, a.bulk_jobs, a.bulk_batch):
        submissions = [
            {"entrypoint": "demo.noop", "params": {"bulk": n}}
            for n in range(first, min(first + a.bulk_batch, a.bulk_jobs))
        ]
        t = time.perf_counter()
        results = job_submit_many(actor=actor(), submissions=submissions)
        answered += len(results)
        refused += sum(1 for item in results if isinstance(item, dict) and "error" in item)
        batches.append((time.perf_counter() - t) * 1000)
    rate = a.bulk_jobs / (time.perf_counter() - started)
    created = sum(job_counts().values())
    reset(b)  # the wake-ups of every job wait in Redis
    h.table(
        f"bulk: {created} jobs created, {answered} results, {refused} refused items (goal >= 5000 jobs/s)",
        ["submission", "jobs/s", "batch p50 ms", "batch p95 ms"],
        [
            ["job_submit_many", rate, h.percentile(batches, 50), h.percentile(batches, 95)],
            ["job_submit one by one", single, "", ""],
            ["many / one by one", h.ratio(rate, single), "", ""],
        ],
    )


# 5. Retry-all of a large DLQ, as set-based work.
def _load_dlq(count: int) -> None:
    """`count` failed jobs, each with its DLQ entry, inserted in batches (no engine involved)."""
    from django.utils import timezone

    from jobs.db import insert_many
    from jobs.models import DLQEntry, Job, Status

    now = timezone.now()
    for first in range(0, count, 5000):
        jobs = [
            Job(
                job_key=f"retry:{n}",
                entrypoint="demo.noop",
                params={"retry": n},
                status=Status.FAILED,
                attempts=3,
                last_error="RuntimeError: partner API down",
                created_at=now,
                updated_at=now,
                completed_at=now,
            )
            for n in range(first, min(first + 5000, count))
        ]
        insert_many(Job, jobs)
        entries = [
            DLQEntry.of(
                job, reason="Max attempts exceeded (3/3)", attempts=3, last_error=job.last_error, fingerprint="x"
            )
            for job in jobs
        ]
        insert_many(DLQEntry, entries)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def retry_section(b: Bench) -> None:
    """The console's retry-all operation over N DLQ entries, run in this process as a worker would."""
    from django.db.models import Count

    from jobs.models import DLQEntry, Job
    from jobs.services.operations import dlq_retry_all_start, operation_run

    count = b.args.retry_entries
    configure(maxQueueSize=MAX_QUEUE_SIZE, maxConcurrent=3)
    reset(b)
    _load_dlq(count)
    print(f"retry: {count} DLQ entries loaded; retry-all as the background operation")
    rss_before = _rss_mb()
    started = time.perf_counter()
    operation = operation_run(dlq_retry_all_start(actor=actor(), reason="benchmark", background=False).id)
    seconds = time.perf_counter() - started
    duplicates = Job.objects.exclude(retried_from=None).values("retried_from").annotate(n=Count("id")).filter(n__gt=1)
    retried = operation.result.get("retried")
    h.table(
        f"retry: {operation.state}, {retried} retried (goal: {count} in <= 60 s, RSS flat, 0 duplicates)",
        ["entries", "seconds", "entries/s", "RSS before MB", "RSS after MB", "left in DLQ", "duplicates"],
        [[count, seconds, count / seconds, rss_before, _rss_mb(), DLQEntry.objects.count(), duplicates.count()]],
    )
    reset(b)


SECTION_RUNNERS = {
    "noop": noop_section,
    "scale": scale_section,
    "api": api_section,
    "bulk": bulk_section,
    "retry": retry_section,
}


def main() -> int:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
        print("Set DATABASE_URL=postgres://... and REDIS_URL=redis://... (see benchmarks/README.md)", file=sys.stderr)
        return 2
    b = setup(args)
    print(f"{os.cpu_count()} CPU cores; logs in {b.logs}")
    failed = []
    for name in args.only:
        try:
            SECTION_RUNNERS[name](b)
        except SystemExit as exc:  # a wait that timed out, a worker that died: the other sections still run
            print(f"{name}: {exc}", file=sys.stderr)
            failed.append(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print()
    if failed:
        print(f"failed sections: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
