"""Each page answers in a bounded number of queries with thousands of jobs (no N+1)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from jobs.models import DLQEntry, Job
from tests.support.console import bulk_jobs, login

JOBS = 3000

# (page, role, extra query string, max queries). The bound includes the session,
# the user, their permissions and groups (about 5 queries) on top of the page's own.
PAGES = [
    ("jobs:dashboard", "viewer", "", 13),
    ("jobs:job-list", "operator", "", 8),
    ("jobs:job-list", "operator", "?status=failed&priority=low&q=boom", 8),
    ("jobs:dlq-list", "operator", "", 12),
    ("jobs:dlq-list", "operator", "?view=groups", 12),
    ("jobs:backpressure", "admin", "", 11),
    ("jobs:approval-list", "approver", "", 10),
    ("jobs:worker-list", "viewer", "", 11),
    ("jobs:event-list", "viewer", "", 8),
    ("jobs:emergency", "admin", "", 9),
    ("jobs:audit-list", "auditor", "", 8),
    ("jobs:config", "admin", "", 9),
]


@pytest.fixture
def many_jobs(db):
    bulk_jobs(JOBS)
    assert Job.objects.count() == JOBS
    assert DLQEntry.objects.count() == JOBS // 6


@pytest.mark.parametrize(("name", "role", "query", "bound"), PAGES)
def test_it_reads_each_page_in_few_queries(
    client, users, many_jobs, django_assert_max_num_queries, name, role, query, bound
):
    login(client, users[role])
    with django_assert_max_num_queries(bound):
        response = client.get(reverse(name) + query)
    assert response.status_code == 200


def test_it_reads_a_job_with_its_events_in_few_queries(client, users, many_jobs, django_assert_max_num_queries):
    job = Job.objects.filter(status="succeeded").first()
    login(client, users["viewer"])
    with django_assert_max_num_queries(10):
        response = client.get(reverse("jobs:job-detail", args=[job.id]))
    assert response.status_code == 200


def test_it_pages_the_jobs_without_counting_the_table(client, users, many_jobs, django_assert_max_num_queries):
    login(client, users["viewer"])
    first = client.get(reverse("jobs:job-list"))
    cursor = first.context["page"].next_cursor
    with django_assert_max_num_queries(10) as captured:
        second = client.get(reverse("jobs:job-list") + f"?cursor={cursor}")
    assert second.status_code == 200
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"] and "jobs_job" in q["sql"]]
    assert {job.id for job in first.context["page"].items}.isdisjoint(job.id for job in second.context["page"].items)


COUNTING_PAGES = ["jobs:dashboard", "jobs:backpressure", "jobs:emergency", "jobs:approval-list", "jobs:dlq-list"]


@pytest.mark.parametrize("name", COUNTING_PAGES)
def test_pages_that_show_counts_read_them_without_counting_the_job_or_dlq_table(
    client, users, many_jobs, django_assert_max_num_queries, name
):
    login(client, users["admin"])
    with django_assert_max_num_queries(10) as captured:
        assert client.get(reverse(name)).status_code == 200
    scans = [
        q["sql"]
        for q in captured.captured_queries
        if "COUNT(" in q["sql"].upper()
        and ('FROM "jobs_job"' in q["sql"] or 'FROM "jobs_dlqentry"' in q["sql"])
        and "WHERE" not in q["sql"]
    ]
    assert not scans, scans


def test_api_health_and_stats_read_counts_without_counting_the_job_table(
    users, many_jobs, django_assert_max_num_queries
):
    from tests.support.api import Api

    api = Api(users["viewer"])
    for path in ("/api/health", "/api/queue/stats", "/api/store/stats", "/metrics"):
        with django_assert_max_num_queries(10) as captured:
            assert api.get(path).status_code == 200
        reads = [_without_job_lookups_by_id(q["sql"]) for q in captured.captured_queries]
        assert not [sql for sql in reads if 'FROM "jobs_job"' in sql], path
        assert not [sql for sql in reads if 'FROM "jobs_event"' in sql], path


# A held slot's job looked up by its primary key (is it still running?): one index probe
# per slot, at most maxConcurrent of them, which is not a read of the job table at large.
_JOB_BY_ID = re.compile(
    r'EXISTS\(SELECT 1 AS "a" FROM "jobs_job" "U\d+" WHERE \("U\d+"\."id" = \("jobs_admissionslot"\."job_id"\)'
)


def _without_job_lookups_by_id(sql: str) -> str:
    return _JOB_BY_ID.sub("EXISTS(job by id", sql)


def test_the_audit_verification_since_the_checkpoint_takes_a_few_queries(
    client, users, many_jobs, django_assert_max_num_queries
):
    login(client, users["auditor"])
    client.get(reverse("jobs:audit-verify"))  # the first one walks everything and checkpoints it
    with django_assert_max_num_queries(10):
        response = client.get(reverse("jobs:audit-verify"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'data-chain="ok"' in response.text
