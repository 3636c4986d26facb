"""Calling the JSON API as a user of a given role, with a real bearer token."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from jobs.models import AuditEntry
from jobs.services.audit import Actor
from jobs.services.tokens import token_create


class Api:
    """A django test client that sends ``Authorization: Bearer`` with every request."""

    def __init__(self, user=None, *, token: str | None = None) -> None:
        if token is None and user is not None:
            _, token = token_create(actor=Actor.cli("tests"), user=user, name="tests")
        self.token = token
        self.user = user
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = Client(headers=headers, REMOTE_ADDR="127.0.0.1")

    def get(self, path: str, **params: Any):
        return self.client.get(path, params)

    def post(self, path: str, body: Any = None, *, raw: str | bytes | None = None, content_type="application/json"):
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(path, data, content_type=content_type)

    def patch(self, path: str, body: Any = None, *, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body)
        return self.client.patch(path, data, content_type="application/json")


def last_audit(action: str | None = None) -> AuditEntry:
    entries = AuditEntry.objects.order_by("-id")
    if action:
        entries = entries.filter(action=action)
    entry = entries.first()
    assert entry is not None, f"no audit entry {action or ''}"
    return entry


def jobs_in_every_state(actor: Actor) -> dict:
    """One job per state, made through the services (an in-process worker runs two of them)."""
    from jobs.engine.admission import job_claim_next
    from jobs.engine.runner import job_execute
    from jobs.services.dlq import dlq_retry
    from jobs.services.lifecycle import job_cancel, job_force_fail
    from jobs.services.submission import job_submit

    made = {}
    made["succeeded"], _ = job_submit(actor=actor, entrypoint="demo.noop", params={"n": 1}, priority="critical")
    job_execute(job_claim_next(worker="tests"), worker="tests")
    made["running"], _ = job_submit(actor=actor, entrypoint="demo.noop", params={"n": 2}, priority="critical")
    job_claim_next(worker="tests")
    made["failed"], _ = job_submit(actor=actor, entrypoint="demo.fail", params={"message": "boom 42"})
    job_force_fail(actor=actor, job_id=made["failed"].id, reason="broken on purpose")
    made["retried"] = dlq_retry(actor=actor, job_id=made["failed"].id)
    made["canceled"], _ = job_submit(actor=actor, entrypoint="demo.noop", params={"n": 3})
    job_cancel(actor=actor, job_id=made["canceled"].id, reason="not needed")
    made["waiting"], _ = job_submit(actor=actor, entrypoint="demo.noop", params={"n": 4}, issue_id="17")
    made["queued"], _ = job_submit(actor=actor, entrypoint="demo.noop", params={"n": 5}, priority="low")
    for job in made.values():
        job.refresh_from_db()
    return made
