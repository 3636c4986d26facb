"""Search by params: the Jobs page, GET /api/jobs, GET /api/dlq and `jobs list --params`.

One filter language in every door (jobs.selectors.params): ``path=value`` terms or a
JSON object, matched by containment, which PostgreSQL answers from a GIN index.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.urls import reverse

from jobs.models import Job, Status
from jobs.selectors import job_search, params_filter
from tests.support.console import login, make_dlq_entry, make_job
from tests.test_commands import jobs_cmd  # noqa: F401 (the fixture: `jobs` as a shell runs it)

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders():
    """Jobs whose params an operator would search: region, a nested customer, a count, tags."""
    return {
        "eu_gold": make_job(params={"region": "eu", "customer": {"id": 7, "tier": "gold"}, "count": 3}),
        "eu_free": make_job(params={"region": "eu", "customer": {"id": 8, "tier": "free"}, "count": "3"}),
        "us_gold": make_job(params={"region": "us", "customer": {"id": 9, "tier": "gold"}, "tags": ["vip", "x"]}),
        "no_params": make_job(params={}),
    }


def ids(items) -> set[str]:
    return {item["id"] for item in items}


def named(orders, *names) -> set[str]:
    return {str(orders[name].id) for name in names}


def test_it_finds_jobs_by_a_params_path_over_the_api(api, orders):
    body = api("viewer").get("/api/jobs", **{"params.region": "eu"}).json()

    assert ids(body["items"]) == named(orders, "eu_free", "eu_gold")


def test_it_combines_nested_paths_and_other_filters(api, orders):
    make_job(status=Status.FAILED, params={"region": "eu", "customer": {"tier": "gold"}})

    body = api("viewer").get("/api/jobs", status="queued", params="region=eu,customer.tier=gold").json()

    assert ids(body["items"]) == named(orders, "eu_gold")


def test_it_matches_a_json_object_by_containment(api, orders):
    by_object = api("viewer").get("/api/jobs", params=json.dumps({"customer": {"tier": "gold"}})).json()
    by_list = api("viewer").get("/api/jobs", params=json.dumps({"tags": ["vip"]})).json()

    assert ids(by_object["items"]) == named(orders, "eu_gold", "us_gold")
    assert ids(by_list["items"]) == named(orders, "us_gold")


def test_it_tells_a_number_from_a_string(api, orders):
    number = api("viewer").get("/api/jobs", **{"params.count": "3"}).json()
    text = api("viewer").get("/api/jobs", **{"params.count": '"3"'}).json()

    assert ids(number["items"]) == named(orders, "eu_gold")
    assert ids(text["items"]) == named(orders, "eu_free")


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"params": "{not json"}, "not a JSON object"),
        ({"params": "[1, 2]"}, "must be an object"),
        ({"params": "region"}, "is not path=value"),
        ({"params": "=eu"}, "is not path=value"),
        ({"params": "a..b=1"}, "is not path=value"),
        ({"params": "region=eu,region=us"}, "two values"),
        ({"params": ",".join(f"k{i}=1" for i in range(11))}, "at most 10 conditions"),
        ({"params": "a.b.c.d.e.f=1"}, "deeper than 5"),
    ],
)
def test_it_refuses_a_malformed_filter_with_400_naming_params(api, orders, query, says):
    response = api("viewer").get("/api/jobs", **query)

    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("params:") and says in body["error"], body


def test_it_searches_the_dlq_by_the_params_of_its_jobs_with_a_matching_count(api):
    eu = [make_dlq_entry(params={"region": "eu", "n": i}) for i in range(3)]
    make_dlq_entry(params={"region": "us"})

    body = api("viewer").get("/api/dlq", **{"params.region": "eu"}).json()

    assert body["count"] == 3
    assert {item["job"]["id"] for item in body["items"]} == {str(entry.job_id) for entry in eu}


def test_it_filters_the_jobs_page_by_params(client, users, orders):
    viewer = login(client, users["viewer"])

    response = viewer.get(reverse("jobs:job-list"), {"params": "customer.tier=gold"})

    assert {job.id for job in response.context["page"].items} == {orders["eu_gold"].id, orders["us_gold"].id}
    assert b'value="customer.tier=gold"' in response.content


def test_it_shows_a_bad_params_filter_as_the_pages_error(client, users, orders):
    viewer = login(client, users["viewer"])

    response = viewer.get(reverse("jobs:job-list"), {"params": "{oops"})

    assert response.status_code == 400
    assert "params: not a JSON object" in response.content.decode()


def test_the_cli_lists_jobs_by_params(jobs_cmd, orders):  # noqa: F811 (the fixture imported above)
    result = jobs_cmd("list", "--params", "region=us")

    assert result.code == 0, result.err
    assert [job["id"] for job in result.json()] == [str(orders["us_gold"].id)]

    bad = jobs_cmd("list", "--params", "region")
    assert bad.code != 0 and "params:" in bad.err


def test_postgresql_answers_the_search_from_the_params_index(orders):
    """The containment the search sends is one the GIN index serves (so it stays fast at a million jobs)."""
    query = job_search(params=params_filter("region=eu,customer.tier=gold")).order_by()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows would be read by a scan otherwise
        plan = query.explain(format="json")

    assert "job_params_idx" in plan
    assert {job.id for job in query} == {orders["eu_gold"].id}
    assert Job.objects.count() == 4


def test_the_dlq_page_filters_by_params_and_keeps_the_retry_all_count(client, users):
    eu = [make_dlq_entry(params={"region": "eu", "n": i}) for i in range(2)]
    make_dlq_entry(params={"region": "us"})
    operator = login(client, users["operator"])

    page = operator.get(reverse("jobs:dlq-list"), {"params": "region=eu"})

    assert {entry.job_id for entry in page.context["page"].items} == {entry.job_id for entry in eu}
    assert 'data-matching="2"' in page.text and "of 3 entries match the params" in page.text
    assert page.context["count"] == 3, "Retry all still names every entry"


def test_a_params_filter_counts_dlq_matches_up_to_a_cap(api, monkeypatch):
    monkeypatch.setattr("jobs.selectors.lists.DLQ_MATCH_COUNT_CAP", 2)
    for i in range(3):
        make_dlq_entry(params={"region": "eu", "n": i})

    capped = api("viewer").get("/api/dlq", **{"params.region": "eu"}).json()
    exact = api("viewer").get("/api/dlq").json()

    assert (capped["count"], capped["countCapped"], len(capped["items"])) == (2, True, 3)
    assert (exact["count"], exact["countCapped"]) == (3, False)
