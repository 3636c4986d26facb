"""The JSON API of API.md (django-ninja): routers per concern, one NinjaAPI.

Every operation authenticates by ``Authorization: Bearer TOKEN`` or a console
session (with CSRF on unsafe methods), reads need a role, and every change goes
through an action of the catalog (jobs.actions), authorized before its body is read.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest
from ninja import NinjaAPI, Router

from jobs.api import dlq, feeds, history, incident, job_routes, requests, system
from jobs.api.auth import API_AUTH, docs_auth
from jobs.api.errors import install_error_handlers
from jobs.api.parsing import StrictJsonParser
from jobs.services.errors import InvalidInput, NotFound

api = NinjaAPI(
    title="Jobs Console API",
    version="1",
    description="Operate the jobs system: submit and inspect jobs, the DLQ, approvals, workers and settings.",
    # Its own namespace beside the console's ("jobs"), so that it reads well in any project's URLconf.
    urls_namespace="jobs-api",
    openapi_url="/openapi.json",
    docs_url=None,  # no bundled UI: the document itself is the reference (docs/api.md explains it)
    docs_decorator=docs_auth,
    auth=API_AUTH,
    parser=StrictJsonParser(),
)
install_error_handlers(api)


def single_valued_query(view):
    """?limit=1&limit=500 is ambiguous (django would take the last): refuse it, naming the parameter."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        for key, values in request.GET.lists():
            if len(values) > 1:
                raise InvalidInput(f"{key}: given more than once")
        return view(request, *args, **kwargs)

    return wrapper


api.add_decorator(single_valued_query)

api.add_router("", job_routes.router)
api.add_router("", dlq.router)
api.add_router("", feeds.router)
api.add_router("", incident.router)
api.add_router("", system.router)
api.add_router("", history.router)
api.add_router("", requests.router)


# Last, so that it only takes what no router above answers.
fallback = Router()


@fallback.api_operation(["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:path}", include_in_schema=False)
def unknown(request: HttpRequest, path: str):
    """Any other path under /api/: a 404 in the API's error shape, not the site's HTML page."""
    raise NotFound(f"no API endpoint at /api/{path}")


api.add_router("", fallback)
