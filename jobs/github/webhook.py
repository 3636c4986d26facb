"""POST /github/webhook: GitHub's `issues` (action `labeled`) and `ping` deliveries.

The view only checks and records; the approval runs after commit in a Celery task
(jobs.github_label), so GitHub gets its answer at once. The poll remains the
reconciler: a delivery that is lost or whose task fails is caught on its next tick.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs import task_names
from jobs.models import GitHubDelivery

logger = logging.getLogger("jobs.github")


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """X-Hub-Signature-256 is "sha256=" + HMAC-SHA256(secret, raw body), compared in constant time."""
    if not secret or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def _bad(message: str) -> HttpResponse:
    return HttpResponse(message, status=400, content_type="text/plain")


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    body = request.body
    if not signature_valid(settings.JOBS_GITHUB_WEBHOOK_SECRET, body, request.headers.get("X-Hub-Signature-256", "")):
        return HttpResponse("invalid or missing X-Hub-Signature-256", status=403, content_type="text/plain")
    event = request.headers.get("X-GitHub-Event", "")
    if event == "ping":
        return HttpResponse(status=204)
    if event != "issues":
        return HttpResponse(status=204)  # not subscribed to anything else; nothing to do
    try:
        payload = json.loads(body)
        action = payload["action"]
        if action != "labeled":
            return HttpResponse(status=204)
        number = payload["issue"]["number"]
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"issue.number must be a whole number, got {number!r}")
        label = str(payload["label"]["name"])
        sender = str(payload["sender"]["login"])
        repo = str(payload["repository"]["full_name"])
    except RecursionError:
        return _bad("malformed issues payload: nested too deeply")
    except (ValueError, TypeError, KeyError) as exc:
        return _bad(f"malformed issues payload: {exc}")
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()
    if not delivery or len(delivery) > 100 or number <= 0 or not sender:
        return _bad("missing X-GitHub-Delivery, issue number or sender")
    if repo.lower() != settings.JOBS_GITHUB_REPO.lower():
        return HttpResponse(status=204)  # another repository's hook: not ours to approve
    try:
        with transaction.atomic():
            GitHubDelivery.objects.create(delivery_id=delivery)
            transaction.on_commit(lambda: _apply_later(number, label, sender))
    except IntegrityError:
        return HttpResponse(status=204)  # a redelivery: already applied
    return HttpResponse(status=204)


def _apply_later(number: int, label: str, sender: str) -> None:
    try:
        current_app.send_task(
            task_names.GITHUB_LABEL, kwargs={"issue_number": number, "label": label, "sender": sender}, retry=False
        )
    except Exception as exc:  # broker down: the poll will see the label
        logger.warning("could not publish the webhook label of #%s (%s); the poll will apply it", number, exc)
