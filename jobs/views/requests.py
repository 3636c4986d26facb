"""Four eyes: the destructive actions waiting for a second admin; confirm and reject are catalog actions."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.views.common import HtmxHttpRequest, login_required, page, require_perm


@login_required
@require_GET
def request_list(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, "jobs.emergency")
    context = {
        "requests": selectors.action_requests(),
        "now": timezone.now(),
        "four_eyes": settings.JOBS_FOUR_EYES,
        "minutes": settings.JOBS_FOUR_EYES_MINUTES,
    }
    return page(request, "jobs/requests.html", context, partial="live")
