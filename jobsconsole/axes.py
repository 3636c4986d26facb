"""How django-axes names the one who tries to log in."""

from __future__ import annotations

# django-axes stores the username of a failed login in a 255-character column:
# a longer one (anyone may post one) would fail the insert and answer 500.
AXES_USERNAME_MAX = 255


def login_username(request, credentials: dict | None = None) -> str:
    """The username a login attempt gave, cut to what axes can store."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(username)[:AXES_USERNAME_MAX]
