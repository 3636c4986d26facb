"""Every console action x every role: allowed, or 403 with a "denied" audit entry.

One table drives it. The roles allowed are written out here, not derived from
jobs/roles.py, so that a change to the roles shows up as a failing test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from jobs.models import AuditEntry, Job, Status
from jobs.roles import ROLES
from tests.support.console import login, make_dlq_entry, make_job, post_confirmed

ALL = set(ROLES)
OPERATE = {"operator", "admin"}
APPROVE = {"approver", "admin"}
ADMIN = {"admin"}
AUDIT = {"auditor", "admin"}


@dataclass(frozen=True)
class Case:
    name: str
    allowed: set[str]
    args: Callable[[dict], list] = lambda world: []
    data: Callable[[dict], dict] = lambda world: {}
    method: str = "post"
    # "ok" audit entries the allowed request writes. A force check that finds no label
    # changes nothing; retry-all writes its entries from the worker, one per batch.
    audits: int = 1


ACTIONS = [
    Case("jobs:jobs-cancel", OPERATE, data=lambda w: {"ids": [w["queued"].id], "reason": "duplicate"}),
    Case("jobs:job-cancel", OPERATE, lambda w: [w["queued"].id], lambda w: {"reason": "not needed"}),
    Case("jobs:job-force-fail", ADMIN, lambda w: [w["running"].id], lambda w: {"reason": "stuck"}),
    Case("jobs:job-approve", APPROVE, lambda w: [w["waiting"].id]),
    Case("jobs:job-reject", APPROVE, lambda w: [w["waiting"].id], lambda w: {"reason": "too risky"}),
    Case("jobs:job-check-approval", OPERATE, lambda w: [w["waiting"].id], audits=0),
    Case("jobs:dlq-retry", OPERATE, lambda w: [w["dlq"].job_id]),
    Case("jobs:dlq-retry-group", OPERATE, lambda w: [w["dlq"].fingerprint], audits=0),
    Case("jobs:dlq-retry-all", OPERATE, audits=0),
    Case("jobs:dlq-clear", ADMIN, data=lambda w: {"confirm": "clear the dlq", "reason": "known bad batch"}),
    Case("jobs:dlq-clean-expired", OPERATE),
    Case("jobs:queue-cancel-low-priority", OPERATE, data=lambda w: {"reason": "Backpressure relief"}),
    Case("jobs:capacity-update", ADMIN, data=lambda w: {"maxConcurrent": 5, "maxQueueSize": 200}),
    Case("jobs:worker-enable", ADMIN, data=lambda w: {"reason": "maintenance over"}),
    Case("jobs:config-update", ADMIN, data=lambda w: {"queue.maxConcurrent": "4", "reason": "more room"}),
    Case(
        "jobs:emergency-force-fail-running",
        ADMIN,
        data=lambda w: {"confirm": "force fail running", "reason": "incident"},
    ),
    Case(
        "jobs:emergency-clear-all",
        ADMIN,
        data=lambda w: _none_running() or {"confirm": "clear all jobs", "reason": "incident"},
    ),
    Case("jobs:emergency-disable", ADMIN, data=lambda w: {"confirm": "disable job system", "reason": "incident"}),
]


def _none_running() -> None:
    """Clear all is refused while a job runs: the runbook force-fails them first."""
    Job.objects.filter(status=Status.RUNNING).update(status=Status.FAILED)


PAGES = [
    Case("jobs:dashboard", ALL, method="get"),
    Case("jobs:job-list", ALL, method="get"),
    Case("jobs:job-detail", ALL, lambda w: [w["queued"].id], method="get"),
    Case("jobs:dlq-list", ALL, method="get"),
    Case("jobs:backpressure", ALL, method="get"),
    Case("jobs:approval-list", ALL, method="get"),
    Case("jobs:worker-list", ALL, method="get"),
    Case("jobs:event-list", ALL, method="get"),
    Case("jobs:emergency", ADMIN, method="get"),
    Case("jobs:audit-list", AUDIT, method="get"),
    Case("jobs:audit-export", AUDIT, method="get"),
    Case("jobs:audit-verify", AUDIT, method="get"),
    Case("jobs:config", ADMIN, method="get"),
]


@pytest.fixture
def world(db) -> dict:
    """One object for every action; jobs are submitted by someone else, so approvers may approve."""
    return {
        "queued": make_job(priority=3, submitted_by="someone"),
        "running": make_job(status=Status.RUNNING, submitted_by="someone"),
        "waiting": make_job(status=Status.WAITING_APPROVAL, issue_id="7", submitted_by="someone"),
        "dlq": make_dlq_entry(),
    }


def _matrix(cases: list[Case]):
    return [pytest.param(case, role, id=f"{case.name}-{role}") for case in cases for role in ROLES]


@pytest.mark.parametrize(("case", "role"), _matrix(ACTIONS))
def test_it_allows_or_refuses_each_action_for_each_role(client, users, world, case, role, request):
    if case.name == "jobs:job-check-approval":
        request.getfixturevalue("fake_github")  # a force check asks GitHub, here a fake on loopback
    login(client, users[role])
    denied_before = AuditEntry.objects.filter(outcome="denied").count()
    ok_before = AuditEntry.objects.filter(outcome="ok").count()
    # A bulk action's first post shows what it will hit; the person then confirms it.
    response = post_confirmed(client, reverse(case.name, args=case.args(world)), case.data(world))
    denied = AuditEntry.objects.filter(outcome="denied").count() - denied_before
    ok = AuditEntry.objects.filter(outcome="ok").count() - ok_before
    if role in case.allowed:
        assert response.status_code in (200, 302), response.content[:300]
        assert (denied, ok) == (0, case.audits)
    else:
        assert response.status_code == 403
        assert (denied, ok) == (1, 0)
        entry = AuditEntry.objects.filter(outcome="denied").latest("id")
        assert entry.actor == role


@pytest.mark.parametrize(("case", "role"), _matrix(PAGES))
def test_it_shows_or_refuses_each_page_for_each_role(client, users, world, case, role):
    response = login(client, users[role]).get(reverse(case.name, args=case.args(world)))
    assert response.status_code == (200 if role in case.allowed else 403)


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_only_the_buttons_a_role_may_use(client, users, world, role):
    login(client, users[role])
    dlq = client.get(reverse("jobs:dlq-list")).text
    assert ("Retry all" in dlq) == (role in OPERATE)
    assert ("Clear DLQ" in dlq) == (role in ADMIN)
    job = client.get(reverse("jobs:job-detail", args=[world["running"].id])).text
    assert ("Cancel job" in job) == (role in OPERATE)
    assert ("Force-fail" in job) == (role in ADMIN)
    approvals = client.get(reverse("jobs:approval-list")).text
    assert (">Approve<" in approvals) == (role in APPROVE)
    assert ("Force check" in approvals) == (role in OPERATE)
    nav = client.get(reverse("jobs:dashboard")).text
    assert ('href="/audit/"' in nav) == (role in AUDIT)
    assert ('href="/emergency/"' in nav) == (role in ADMIN)
    assert ('href="/config/"' in nav) == (role in ADMIN)


def test_it_logs_a_refusal_on_one_line_without_a_traceback(client, users, caplog):
    login(client, users["viewer"])
    with caplog.at_level("INFO", logger="django.request"):
        page = client.get(reverse("jobs:emergency"))
        action = client.post(reverse("jobs:dlq-clear"), {"reason": "tidy up", "confirm": "clear the dlq"})
    assert (page.status_code, action.status_code) == (403, 403)
    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in refusals] == [
        "Refused: viewer GET /emergency/ (your role may not open this page (needs jobs.emergency))",
        "Refused: viewer POST /dlq/clear (missing permission jobs.clear_dlq)",
    ]
    assert all(r.levelname == "WARNING" and r.exc_info is None for r in refusals)
    assert "Traceback" not in caplog.text
