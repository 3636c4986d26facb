"""maxConcurrent above the worker slots alive is said where it is set and on the dashboard.

Admission lets maxConcurrent jobs start, but only as many run as the live workers
have room for: "3 of 5 running" while the queue backs up, and nothing said why.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, Status, WorkerHeartbeat
from jobs.services.config import config_update
from jobs.services.submission import job_submit
from tests.support.console import live_worker, login
from tests.support.processes import wait_for

WARNING = "maxConcurrent is 5 but only 3 worker slots are alive"


@pytest.fixture
def three_slots(db):
    """Two live processes, one of them a threads pool of 2; and one dead process that no longer counts."""
    live_worker("w1@test:1")
    WorkerHeartbeat.objects.filter(name=live_worker("w2@test:2").name).update(concurrency=2)
    dead = live_worker("w3@test:3")
    WorkerHeartbeat.objects.filter(name=dead.name).update(last_seen=timezone.now() - timedelta(hours=1), concurrency=8)


def test_it_warns_on_the_dashboard_while_max_concurrent_exceeds_the_live_slots(client, users, cli, three_slots):
    viewer = login(client, users["viewer"])
    config_update(actor=cli, changes={"queue": {"maxConcurrent": 3}})
    assert 'data-warning="capacity"' not in viewer.get(reverse("jobs:dashboard")).text

    config_update(actor=cli, changes={"queue": {"maxConcurrent": 5}})
    page = viewer.get(reverse("jobs:dashboard"))
    assert 'data-warning="capacity"' in page.text and WARNING in page.text
    # The live region the page polls says it too.
    assert WARNING in viewer.get(reverse("jobs:dashboard"), headers={"HX-Request": "true"}).text


def test_it_warns_after_saving_the_config_form_and_beside_the_field(client, users, three_slots):
    admin = login(client, users["admin"])
    saved = admin.post(reverse("jobs:config-update"), {"queue.maxConcurrent": "5", "reason": "more"}, follow=True)

    assert "Configuration saved" in saved.text
    assert f'<p class="flash flash-warning">{WARNING}' in saved.text
    note = saved.text.split('id="f-queue.maxConcurrent"')[1].split("</div>")[0]
    assert WARNING in note


def test_it_warns_after_saving_capacity_on_the_backpressure_page(client, users, three_slots):
    admin = login(client, users["admin"])
    form = {"maxConcurrent": "5", "maxQueueSize": "100", "reason": ""}
    saved = admin.post(reverse("jobs:capacity-update"), form, follow=True)

    assert "Capacity set: maxConcurrent 5" in saved.text
    assert f'<p class="flash flash-warning">{WARNING}' in saved.text
    assert saved.text.count(WARNING) == 2  # the message, and the note beside the field


def test_it_says_nothing_when_the_slots_suffice_or_no_worker_is_alive(client, users, cli):
    admin = login(client, users["admin"])
    saved = admin.post(reverse("jobs:config-update"), {"queue.maxConcurrent": "5", "reason": "x"}, follow=True)
    assert "flash-warning" not in saved.text  # no worker at all: the health issue says that already
    live_worker("w1@test:1")
    WorkerHeartbeat.objects.update(concurrency=5)
    saved = admin.post(reverse("jobs:config-update"), {"queue.maxConcurrent": "4", "reason": "x"}, follow=True)
    assert "flash-warning" not in saved.text


@pytest.mark.workers
def test_it_counts_the_slots_of_real_workers_a_threads_pool_and_prefork_children(client, users, workers, cli):
    workers(1, pool="threads", concurrency=3, prefix="threads")
    workers(1, pool="prefork", concurrency=2, prefix="prefork")
    # A threads pool's process announces itself with its first job.
    for n in range(4):
        job_submit(actor=cli, entrypoint="demo.noop", params={"n": n})
    wait_for(lambda: not Job.objects.exclude(status=Status.SUCCEEDED).exists(), timeout=40, message="jobs ran")
    wait_for(
        lambda: (
            WorkerHeartbeat.objects.filter(name__startswith="threads").exists()
            and WorkerHeartbeat.objects.filter(name__startswith="prefork").count() == 2
        ),
        timeout=30,
        message="both workers beat",
    )
    assert list(WorkerHeartbeat.objects.filter(name__startswith="threads").values_list("concurrency", flat=True)) == [3]
    assert list(WorkerHeartbeat.objects.filter(name__startswith="prefork").values_list("concurrency", flat=True)) == [
        1,
        1,
    ]

    config_update(actor=cli, changes={"queue": {"maxConcurrent": 6}})
    page = login(client, users["viewer"]).get(reverse("jobs:dashboard"))
    assert "maxConcurrent is 6 but only 5 worker slots are alive" in page.text
