"""Who calls the API: a bearer token or a console session.

Bearer tokens are tried first; a request carrying an ``Authorization`` header
is judged by it alone (a wrong token is a 401, never a fall-through to the
session). Session requests keep Django's CSRF protection on unsafe methods;
bearer requests need none, since a browser never adds that header by itself.

A route that performs a catalog action authenticates with ``action_auth(name)``:
the same two schemes, which then authorize the action before django-ninja reads
the body, so a role that may not act gets 403 and one ``denied`` audit entry
whatever it sent.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest, JsonResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth
from ninja.utils import check_csrf

from jobs.actions.perform import action_authorize, action_named
from jobs.services.audit import Actor
from jobs.services.tokens import token_authenticate


def _authorize_action(request: HttpRequest, action_name: str | None) -> None:
    if action_name is None:
        return
    action = action_named(action_name)
    target = next(iter(request.resolver_match.kwargs.values()), None) if request.resolver_match else None
    action_authorize(action, Actor.for_request(request, source="api"), target)


class BearerToken(HttpBearer):
    def __init__(self, action: str | None = None) -> None:
        super().__init__()
        self.action = action

    def __call__(self, request: HttpRequest):
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationError(message="Authorization: expected 'Bearer TOKEN'")
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str):
        user = token_authenticate(token)
        if user is None:
            raise AuthenticationError(message="Authorization: unknown or revoked token")
        # Services read the actor from request.user (Actor.for_request).
        request.user = user
        _authorize_action(request, self.action)
        return user


class ConsoleSession(SessionAuth):
    """django_auth, but a caller without a session gets 401 before any CSRF check (403)."""

    def __init__(self, action: str | None = None) -> None:
        super().__init__()
        self.action = action

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header with a session")
        _authorize_action(request, self.action)
        return request.user


bearer_token = BearerToken()
console_session = ConsoleSession()
API_AUTH = [bearer_token, console_session]


def action_auth(action: str) -> list:
    """Authentication for a route performing ``action``: authorized before its input is read."""
    return [BearerToken(action), ConsoleSession(action)]


def request_user(request: HttpRequest):
    """The user a request authenticates as by token or session, or None (for plain views)."""
    try:
        return bearer_token(request) or console_session(request)
    except HttpError:
        return None


def docs_auth(view):
    """The OpenAPI document is for callers of the API: same authentication as the API."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request_user(request) is None:
            return JsonResponse({"error": "Authentication required", "detail": None}, status=401)
        return view(request, *args, **kwargs)

    return wrapper
