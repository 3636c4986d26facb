"""The emergency page (admin); force-fail running, clear all and disable are catalog actions.

Also the download of the JSONL exports that clear all and clear the DLQ write first.
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.actions.catalog import CLEAR_ALL_CONFIRMATION, DISABLE_CONFIRMATION, FORCE_FAIL_CONFIRMATION
from jobs.services import export
from jobs.services.audit import Actor
from jobs.services.config import config_get
from jobs.services.errors import NotFound
from jobs.views.common import HtmxHttpRequest, login_required, require_perm

# Exports hold every job's params: only the role that may run the destructive actions reads them.
EXPORTS_PERMISSION = "jobs.emergency"


@login_required
@require_GET
def emergency(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.emergency")
    context = {
        "exports": selectors.recent_exports(),
        "store": selectors.store_stats(),
        "cfg": config_get(),
        "pending_requests": selectors.action_requests_pending_count(),
        "four_eyes": bool(settings.JOBS_FOUR_EYES),
        "phrases": {
            "force_fail": FORCE_FAIL_CONFIRMATION,
            "clear_all": CLEAR_ALL_CONFIRMATION,
            "disable": DISABLE_CONFIRMATION,
        },
    }
    return TemplateResponse(request, "jobs/emergency.html", context)


@login_required
@require_GET
def export_download(request: HtmxHttpRequest, name: str) -> FileResponse:
    """One export file, as an attachment; the download is recorded in the audit trail."""
    require_perm(request, EXPORTS_PERMISSION)
    try:
        path = export.export_download(actor=Actor.for_request(request), name=name)
    except NotFound as exc:
        raise Http404(exc.message) from None
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="application/x-ndjson")
