"""GET /metrics in Prometheus text format (to be built)."""

from django.http import HttpResponse


def metrics(request):
    return HttpResponse(status=501)
