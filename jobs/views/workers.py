"""The workers page: each worker process, and the job system's on/off switch."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.actions.catalog import DISABLE_CONFIRMATION
from jobs.services.config import config_get
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm


@login_required
@require_GET
def worker_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.view_console")
    cfg = config_get()
    workers = selectors.workers_listed()
    stats = selectors.worker_stats(cfg)
    context = {
        "workers": workers,
        "alive_count": stats["workers"],
        "cfg": cfg,
        "stats": stats,
        "disable_phrase": DISABLE_CONFIRMATION,
    }
    return page(request, "jobs/workers.html", context, partial="live")
