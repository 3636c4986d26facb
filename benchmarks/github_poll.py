"""Requests per approval-watcher poll against the fake GitHub, with N waiting jobs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jobsconsole python benchmarks/github_poll.py [--jobs 1000]

Creates a throwaway database (<name>_bench_github) next to DATABASE_URL's, fills
it with N jobs waiting on N issues of a fake GitHub served on 127.0.0.1, and
counts the HTTP requests each poll makes: the first poll, a poll with nothing
changed, a poll after one label, and quiet polls after it. "Rate-limit cost" counts
the requests GitHub would charge (a 304 Not Modified is free).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="waiting jobs, one issue each (default 1000)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL=postgres://... (a throwaway database is created next to it)", file=sys.stderr)
        return 2

    from tests.support.fake_github import FakeGitHub, long_ago

    fake = FakeGitHub().start()
    os.environ.update(fake.env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsconsole.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from jobsconsole.celery import app

    app.conf.broker_url = "memory://localhost/"  # approvals publish wake-ups; no broker needed here
    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_bench_github"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        return run(fake, args.jobs, long_ago)
    finally:
        connection.creation.destroy_test_db(db["NAME"].removeprefix("test_"), verbosity=0)
        fake.stop()


def run(fake, count: int, long_ago) -> int:
    from jobs.github.poll import approvals_poll
    from jobs.models import Job
    from jobs.services.audit import Actor
    from jobs.services.submission import job_submit

    actor = Actor.cli("benchmark")
    fake.set_permission("alice", "write")
    started = time.monotonic()
    for number in range(1, count + 1):
        fake.add_issue(number, updated_at=long_ago(number))
        job_submit(actor=actor, entrypoint="demo.noop", params={"issue": number}, issue_id=str(number))
    print(f"{count} jobs waiting on {count} issues (set up in {time.monotonic() - started:.1f}s)\n")

    def poll(title: str) -> dict:
        fake.reset_counts()
        begun = time.monotonic()
        report = approvals_poll(force=True)
        took = time.monotonic() - begun
        free = fake.count(status=304)
        graphql = fake.count(path_prefix="/graphql")
        print(
            f"{title:<34} requests {report['requests']:>4}   rate-limit cost {report['requests'] - free:>4}   "
            f"GraphQL {graphql:>3}   304 {free:>2}   approved {report['approved']}   {took * 1000:.0f} ms"
        )
        if report.get("error"):
            print(f"  error: {report['error']}")
        return report

    poll("first poll (every issue unseen)")
    poll("nothing changed since last poll")
    fake.label(count // 2, "approved", by="alice")
    poll("one issue labeled since last poll")
    poll("next poll (sees our own comment)")
    poll("nothing changed again")
    print(f"\none request per job would be {count} requests per poll")
    return 0 if Job.objects.waiting().count() == count - 1 else 1


if __name__ == "__main__":
    sys.exit(main())
