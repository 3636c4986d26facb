"""Logging for the console's requests: a refusal is one line, not a traceback."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


class RefusalsOnOneLine(logging.Filter):
    """Attach to the ``django.request`` logger: a 403 from PermissionDenied becomes one line.

    Django logs each refused request with the exception's traceback. A refusal is the
    access control working, already recorded as a ``denied`` audit entry, so the log
    says who asked for what and why it was refused: ``Refused: viewer POST /dlq/clear
    (missing permission jobs.clear_dlq)``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        request = getattr(record, "request", None)
        if isinstance(exc, PermissionDenied) and request is not None:
            user = getattr(request, "user", None)
            who = user.get_username() if user is not None and user.is_authenticated else "anonymous"
            record.msg = "Refused: %s %s %s (%s)"
            record.args = (who, request.method, request.path, str(exc) or "permission denied")
            record.exc_info = None
            record.exc_text = None
        return True
