"""Engine throughput with 1 and 3 workers, and submit latency, measured in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jobsconsole REDIS_URL=redis://127.0.0.1:6379/15 \
        .venv/bin/python benchmarks/run.py [--jobs 300] [--max-concurrent 3]

(`make bench` runs it.) Creates a throwaway database (<name>_bench) next to
DATABASE_URL's. For each worker count it submits N demo.noop jobs through the
service (timing each call: that is the submit latency, commit and publish to
Redis included), starts that many `celery worker --pool solo` processes, and
measures throughput as N / (last completion - first start), from the jobs' own
timestamps, so worker start-up is not counted. Then the same with N/5 jobs that
sleep 0.1 s, where the work, not admission, dominates.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CELERY = str(Path(sys.executable).with_name("celery"))


def bench_database(url: str) -> str:
    """Create (afresh) <name>_bench next to DATABASE_URL's database; returns its URL."""
    import dj_database_url
    import psycopg

    parsed = dj_database_url.parse(url)
    name = f"{parsed['NAME']}_bench"
    admin = {
        "host": parsed.get("HOST") or "127.0.0.1",
        "port": parsed.get("PORT") or 5432,
        "user": parsed.get("USER") or "postgres",
        "password": parsed.get("PASSWORD") or None,
        "dbname": "postgres",
    }
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_workers(count: int, env: dict[str, str], log_dir: Path) -> list[subprocess.Popen]:
    processes = []
    for n in range(1, count + 1):
        log = (log_dir / f"worker{n}.log").open("wb")
        argv = [CELERY, "-A", "jobsconsole", "worker", "--pool", "solo", "--hostname", f"bench{n}@%h"]
        argv += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        processes.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run_once(
    workers: int, jobs: int, env: dict[str, str], log_dir: Path, entrypoint: str = "demo.noop", params=None
) -> dict[str, float]:
    import redis
    from django.db.models import Max, Min

    from jobs.models import Job, Status
    from jobs.services.audit import Actor
    from jobs.services.jobs import job_submit, jobs_clear_all

    actor = Actor.cli("bench")
    if Job.objects.exists():
        jobs_clear_all(actor=actor, reason="benchmark run", confirm="clear all jobs")
    latencies = []
    for n in range(jobs):
        started = time.perf_counter()
        job_submit(actor=actor, entrypoint=entrypoint, params={**(params or {}), "run": workers, "n": n})
        latencies.append((time.perf_counter() - started) * 1000)

    processes = start_workers(workers, env, log_dir)
    try:
        deadline = time.monotonic() + 600
        while Job.objects.filter(status=Status.SUCCEEDED).count() < jobs:
            if time.monotonic() > deadline:
                raise SystemExit(f"{workers} worker(s): not every job succeeded within 600 s (logs in {log_dir})")
            if any(p.poll() is not None for p in processes):
                raise SystemExit(f"a worker exited early (logs in {log_dir})")
            time.sleep(0.2)
        # Let the workers take the remaining wake-ups, so the next run starts with an empty queue.
        broker = redis.Redis.from_url(env["REDIS_URL"])
        while broker.llen("celery") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop_workers(processes)
    span = Job.objects.aggregate(first=Min("started_at"), last=Max("completed_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    used = Job.objects.values("worker").distinct().count()
    return {"workers": workers, "used": used, "seconds": seconds, "rate": jobs / seconds, "latencies": latencies}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="demo.noop jobs per run (default 300)")
    parser.add_argument("--max-concurrent", type=int, default=3, help="queue.maxConcurrent (default 3)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
        print("Set DATABASE_URL=postgres://... and REDIS_URL=redis://... (see benchmarks/README.md)", file=sys.stderr)
        return 2

    os.environ["DATABASE_URL"] = bench_database(url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsconsole.settings")
    log_dir = Path(tempfile.mkdtemp(prefix="jobs-bench-"))
    os.environ["JOBS_EXPORT_DIR"] = str(log_dir / "exports")
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    import django

    django.setup()
    from django.core.management import call_command

    from jobs.services.audit import Actor
    from jobs.services.config import config_update

    call_command("migrate", verbosity=0)
    config_update(
        actor=Actor.cli("bench"),
        changes={"queue": {"maxConcurrent": args.max_concurrent, "maxQueueSize": args.jobs * 10}},
    )

    print(f"{args.jobs} demo.noop jobs per run, maxConcurrent {args.max_concurrent}, {os.cpu_count()} CPU cores")
    results = [run_once(count, args.jobs, env, log_dir) for count in (1, 3)]
    for result in results:
        print(
            f"  {result['workers']} worker(s): {result['rate']:7.1f} jobs/s "
            f"({args.jobs} jobs in {result['seconds']:.2f} s; {result['used']} process(es) ran jobs)"
        )
    print(f"  3 workers / 1 worker throughput ratio: {results[1]['rate'] / results[0]['rate']:.2f}")
    # The same comparison when jobs do some work (0.1 s each): admission is no longer the bottleneck.
    sleepers = max(args.jobs // 5, 10)
    slow = [run_once(count, sleepers, env, log_dir, "demo.sleep", {"seconds": 0.1}) for count in (1, 3)]
    print(f"{sleepers} demo.sleep jobs of 0.1 s per run:")
    for result in slow:
        print(f"  {result['workers']} worker(s): {result['rate']:7.1f} jobs/s ({result['seconds']:.2f} s)")
    print(f"  3 workers / 1 worker throughput ratio: {slow[1]['rate'] / slow[0]['rate']:.2f}")
    latencies = results[0]["latencies"] + results[1]["latencies"]
    print(
        f"submit latency (job_submit: validate, insert, event, audit entry, commit, publish), "
        f"{len(latencies)} calls: p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
        f"p95/p50 {percentile(latencies, 95) / statistics.median(latencies):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
