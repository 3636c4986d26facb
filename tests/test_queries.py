"""Each page answers in a bounded number of queries with thousands of jobs (no N+1)."""

from __future__ import annotations

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
