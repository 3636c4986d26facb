"""What every console view shares: the typed request, access helpers, errors, responses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required as signed_in_only
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget
from django_htmx.middleware import HtmxDetails

from jobs.conf import DEFAULTS
from jobs.services.errors import InvalidInput, ServiceError


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def login_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Django's login_required, sending a visitor to JOBS_LOGIN_URL (the console's own sign-in)."""
    return signed_in_only(view, login_url=getattr(settings, "JOBS_LOGIN_URL", DEFAULTS["JOBS_LOGIN_URL"]))


def require_perm(request: HtmxHttpRequest, perm: str) -> None:
    """Refuse a page (403) the user's role may not read."""
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"your role may not open this page (needs {perm})")


def page(request: HtmxHttpRequest, template: str, context: dict[str, Any], *, partial: str, status: int = 200):
    """The whole page, or only its ``partial`` region when htmx asks for it."""
    # A history restore (back button) needs the whole page, not the region.
    region = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    name = f"{template}#{partial}" if region else template
    return TemplateResponse(request, name, context, status=status)


def done(request: HtmxHttpRequest, message: str, to: str) -> HttpResponse:
    """After a successful action: say what happened and show the page again (POST/redirect/GET)."""
    messages.success(request, sentence(message))
    if request.htmx:
        return HttpResponseClientRedirect(to)
    return redirect(to)


def sentence(message: str) -> str:
    """An action's one line as the console shows it: a capital and a full stop."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def form_data(form) -> dict[str, Any]:
    """The cleaned data of a bound form, or InvalidInput naming the first bad field."""
    if form.is_valid():
        return form.cleaned_data
    field, errors = next(iter(form.errors.items()))
    label = "input" if field == "__all__" else field
    raise InvalidInput(f"{label}: {' '.join(errors)}")


def service_errors(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Answer a ServiceError with its status and its message, shown to the user."""

    @functools.wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except ServiceError as exc:
            referer = request.META.get("HTTP_REFERER", "")
            safe = url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()})
            context = {"message": exc.message, "status": exc.status, "back": referer if safe else ""}
            response = page(request, "jobs/error.html", context, partial="message", status=exc.status)
            if request.htmx:
                # Shown above the page, so the region the request aimed at stays in place.
                reswap(retarget(response, "#htmx-error"), "innerHTML")
            if retry_after := getattr(exc, "retry_after", None):
                response["Retry-After"] = str(retry_after)
            return response

    return wrapper
