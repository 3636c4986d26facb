"""The default local run is SQLite (`make run` with nothing set): no page answers 500 on any filter there.

The suite runs on PostgreSQL, so these start a Python of their own on a fresh SQLite
database, as `make run` would, and drive the pages with Django's test client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.processes import ROOT

SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
from django.db import transaction
from django.test import Client
call_command("migrate", verbosity=0)
from jobs.services.audit import Actor, audit_record
from jobs.services.users import user_set
user, _ = user_set(actor=Actor.cli("tests"), username="audra", role="auditor", password="correct-horse-battery")
with transaction.atomic():
    audit_record(Actor.cli("ops"), action="test.named", object_type="job", object_ids=["job-42"])
    audit_record(Actor.cli("ops"), action="test.other", object_type="job", object_ids=["job-7"])
client = Client()
client.force_login(user)
answers = {}
for query in json.loads(__import__("sys").argv[1]):
    response = client.get("/audit/" + query)
    answers[query] = [response.status_code, "test.named" in response.text, "test.other" in response.text]
print(json.dumps(answers))
"""

QUERIES = [
    "?object=job-42",
    "?object=x",
    "?object=%27%20OR%201%3D1%20--",
    "?object=%00",
    "?actor=ops&action=test.named",
    "?since=not-a-time",
    "?until=2026-13-45",
]


def run_on_sqlite(script: str, queries: list[str], tmp_path) -> dict:
    """Run ``script`` on a fresh SQLite database as `make run` would; its last line is JSON answers."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="jobsconsole.settings", DEBUG="1", JOBS_VAR_DIR=str(tmp_path), ALLOWED_HOSTS="testserver"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, json.dumps(queries)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_audit_page_filters_on_sqlite_without_a_500(tmp_path):
    answers = run_on_sqlite(SCRIPT, QUERIES, tmp_path)

    assert all(status < 500 for status, _, _ in answers.values()), answers
    assert answers["?object=job-42"] == [200, True, False], "the object filter finds the entry, and only it"
    assert answers["?object=x"] == [200, False, False]
    assert answers["?object=%27%20OR%201%3D1%20--"][1:] == [False, False]


JOBS_SCRIPT = """
import json, sys, django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from django.utils import timezone
setup_test_environment()  # the client then keeps each response's template context
call_command("migrate", verbosity=0)
from jobs.models import Job
from jobs.services.audit import Actor
from jobs.services.users import user_set
user, _ = user_set(actor=Actor.cli("tests"), username="vera", role="viewer", password="correct-horse-battery")
now = timezone.now()
for key, params in [("eu-gold", {"region": "eu", "customer": {"tier": "gold"}}), ("us", {"region": "us"})]:
    Job.objects.create(job_key=key, entrypoint="demo.noop", params=params, created_at=now, updated_at=now)
client = Client()
client.force_login(user)
answers = {}
for query in json.loads(sys.argv[1]):
    response = client.get("/jobs/" + query)
    answers[query] = [response.status_code]
    if response.status_code == 200:
        answers[query].append(sorted(job.job_key for job in response.context["page"].items))
print(json.dumps(answers))
"""


def test_the_jobs_page_searches_params_on_sqlite(tmp_path):
    answers = run_on_sqlite(
        JOBS_SCRIPT, ["?params=region%3Deu", "?params=customer.tier%3Dgold", "?params=%7B%22region%22%3A%22us%22%7D",
                      "?params=%7Boops", "?params=region"], tmp_path
    )  # fmt: skip

    assert answers["?params=region%3Deu"] == [200, ["eu-gold"]]
    assert answers["?params=customer.tier%3Dgold"] == [200, ["eu-gold"]]
    assert answers["?params=%7B%22region%22%3A%22us%22%7D"] == [200, ["us"]]
    assert answers["?params=%7Boops"][0] == 400
    assert answers["?params=region"][0] == 400
