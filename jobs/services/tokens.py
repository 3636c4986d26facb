"""API tokens: created once, shown once, stored as a SHA-256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from jobs.models import ApiToken
from jobs.services.audit import Actor, audit_record
from jobs.services.errors import NotFound

TOKEN_PREFIX = "jc_"  # noqa: S105 - a public prefix, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, actor: Actor, user, name: str = "") -> tuple[ApiToken, str]:
    """Returns the stored token and the secret, which is never stored nor shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=secret[:10], token_hash=hash_token(secret))
        audit_record(
            actor,
            action="token.create",
            object_type="token",
            object_ids=[token.pk],
            after={"user": user.get_username(), "name": name, "prefix": token.prefix},
        )
    return token, secret


def token_revoke(*, actor: Actor, token_id: int) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound(f"token {token_id} not found")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                actor,
                action="token.revoke",
                object_type="token",
                object_ids=[token.pk],
                after={"user": token.user.get_username(), "prefix": token.prefix},
            )
    return token


def token_authenticate(secret: str):
    """The active user a bearer secret belongs to, or None. Records when it was last used."""
    if not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=hash_token(secret), revoked_at=None).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # at most once a minute
    return token.user
