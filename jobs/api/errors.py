"""One error shape for every failure: ``{"error": "...", "detail": ...}``.

Service errors keep their status (400/404/409/429), django's PermissionDenied
is a 403, Http404 a 404, a failed authentication a 401, and ninja's validation
errors a 400 that names the offending field. Nothing a client sends answers 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from jobs.actions.validation import describe_invalid
from jobs.services.errors import Backpressure, ServiceError

__all__ = ["describe_invalid", "install_error_handlers"]


class BodyError(ValueError):
    """A request body that parses but cannot be stored (NaN, NUL characters)."""


def error_response(api: NinjaAPI, request: HttpRequest, status: int, error: str, detail: Any = None) -> HttpResponse:
    return api.create_response(request, {"error": error, "detail": detail}, status=status)


def install_error_handlers(api: NinjaAPI) -> None:
    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        body = describe_invalid(exc.errors)
        return error_response(api, request, 400, body["error"], body["detail"])

    def on_service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
        response = error_response(api, request, exc.status, exc.message, exc.detail)
        if isinstance(exc, Backpressure):
            response["Retry-After"] = str(exc.retry_after)
        return response

    def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(api, request, 403, f"Permission denied: {exc}" if str(exc) else "Permission denied")

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(api, request, 404, str(exc) or "Not found")

    def on_authentication(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = exc.message if exc.message != "Unauthorized" else "Authentication required"
        response = error_response(api, request, 401, message)
        response["WWW-Authenticate"] = 'Bearer realm="jobs-console"'
        return response

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        message = exc.message
        if exc.status_code == 400 and message.startswith("Cannot parse request body"):
            cause = exc.__cause__
            message = str(cause) if isinstance(cause, BodyError) else "body: not valid JSON"
        return error_response(api, request, exc.status_code, message)

    def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
        if isinstance(exc, RequestDataTooBig):
            return error_response(api, request, 400, "body: too large")
        return error_response(api, request, 400, "bad request")

    # ninja types a handler's argument as the exception or its class; handlers get the exception.
    api.add_exception_handler(ValidationError, on_validation)  # type: ignore[arg-type]
    api.add_exception_handler(ServiceError, on_service_error)  # type: ignore[arg-type]
    api.add_exception_handler(PermissionDenied, on_permission_denied)  # type: ignore[arg-type]
    api.add_exception_handler(Http404, on_not_found)  # type: ignore[arg-type]
    api.add_exception_handler(AuthenticationError, on_authentication)  # type: ignore[arg-type]
    api.add_exception_handler(HttpError, on_http_error)  # type: ignore[arg-type]
    api.add_exception_handler(SuspiciousOperation, on_suspicious)  # type: ignore[arg-type]
