"""Helpers every router uses: the acting user, read permission, keyset pages."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from jobs.pagination import Page, keyset_page, parse_limit
from jobs.services.audit import Actor


def actor(request: HttpRequest) -> Actor:
    """The caller as services see it; the audit trail records source "api"."""
    return Actor.for_request(request, source="api")


def require_perm(request: HttpRequest, perm: str = "jobs.view_console") -> None:
    """Reads need a role; mutations are authorized (and audited) by their service."""
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


def page_of(queryset, *, cursor: str | None, limit: int | None, fields: tuple[str, ...]) -> Page:
    return keyset_page(queryset, cursor=cursor or None, limit=parse_limit(limit), fields=fields)
