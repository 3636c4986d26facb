"""Errors services raise; the web layers map them to HTTP statuses."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(ServiceError):
    status = 400
    code = "invalid"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Unavailable(ServiceError):
    """An outside service (GitHub) could not be asked; nothing changed. Try again later."""

    status = 503
    code = "unavailable"


class Backpressure(ServiceError):
    """The queue is at its backpressure threshold; try again later."""

    status = 429
    code = "backpressure"

    def __init__(self, message: str, *, retry_after: int, detail: Any = None) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after
