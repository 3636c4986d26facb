"""Who may call the API: bearer tokens (hashed, revocable, last use recorded) and sessions with CSRF."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs.models import ApiToken, AuditEntry, Job
from jobs.services.audit import Actor
from jobs.services.tokens import hash_token, token_create, token_revoke
from tests.conftest import PASSWORD
from tests.support.api import Api

pytestmark = pytest.mark.django_db


def test_it_answers_a_valid_bearer_token_and_records_its_last_use(users):
    token, secret = token_create(actor=Actor.cli("tests"), user=users["viewer"], name="ci")
    assert token.last_used_at is None

    response = Api(token=secret).get("/api/health")

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    # Only a hash is stored; the secret itself is nowhere in the table.
    assert token.token_hash == hash_token(secret)
    assert not ApiToken.objects.filter(token_hash=secret).exists()


@pytest.mark.parametrize(
    "header",
    [None, "Bearer jc_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer ", "Token abc"],
)
def test_it_refuses_requests_without_a_valid_token_with_401(db, header):
    client = Client(headers={"Authorization": header} if header else {})

    response = client.get("/api/jobs")

    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_revoked_token(users):
    token, secret = token_create(actor=Actor.cli("tests"), user=users["admin"], name="old")
    token_revoke(actor=Actor.cli("tests"), token_id=token.pk)

    assert Api(token=secret).get("/api/health").status_code == 401


def test_it_acts_with_the_role_of_the_tokens_user(users):
    response = Api(users["viewer"]).post("/api/jobs", {"entrypoint": "demo.noop"})

    assert response.status_code == 403
    assert Job.objects.count() == 0
    denied = AuditEntry.objects.filter(action="job.submit").get()
    assert (denied.actor, denied.source, denied.outcome) == ("viewer", "api", "denied")


def test_it_refuses_reads_to_a_user_without_a_role(db, django_user_model):
    nobody = django_user_model.objects.create_user("nobody", password=PASSWORD)

    response = Api(nobody).get("/api/jobs")

    assert response.status_code == 403


def test_it_needs_no_csrf_token_with_a_bearer_token(users):
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {Api(users['operator']).token}"})

    response = client.post("/api/jobs", {"entrypoint": "demo.noop"}, content_type="application/json")

    assert response.status_code == 201


def test_it_accepts_a_console_session_and_keeps_csrf_for_unsafe_methods(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])

    assert client.get("/api/jobs").status_code == 200
    refused = client.post("/api/jobs", {"entrypoint": "demo.noop"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    assert Job.objects.count() == 0

    client.get("/")  # any page sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    accepted = client.post(
        "/api/jobs", {"entrypoint": "demo.noop"}, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert accepted.status_code == 201
    assert AuditEntry.objects.filter(action="job.submit", actor="operator", source="api").exists()


def test_it_answers_401_not_a_csrf_error_to_an_anonymous_post(db):
    response = Client(enforce_csrf_checks=True).post("/api/jobs", {}, content_type="application/json")

    assert response.status_code == 401


def test_it_serves_the_openapi_document_to_authenticated_callers_only(users):
    assert Client().get("/api/openapi.json").status_code == 401

    document = Api(users["viewer"]).get("/api/openapi.json").json()

    assert document["openapi"].startswith("3.")
    assert "/api/jobs/{id}/cancel" in document["paths"]
    assert {"BearerToken", "ConsoleSession"} <= set(document["components"]["securitySchemes"])


def test_it_creates_a_token_from_the_command_line_that_the_api_accepts(users, capsys):
    from django.core.management import call_command

    call_command("jobs", "token", "create", "auditor")
    secret = capsys.readouterr().out.strip().splitlines()[-1]

    assert Api(token=secret).get("/api/audit").status_code == 200
