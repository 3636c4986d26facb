"""The shop's pages enqueue tasks as any Django view would; nothing here knows the console."""

import json

from django.http import HttpRequest, JsonResponse
from django.tasks.exceptions import TaskResultDoesNotExist
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from orders import tasks


@csrf_exempt  # an example endpoint called by scripts; a real shop keeps its CSRF checks
@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    order = json.loads(request.body or "{}")
    receipt = tasks.send_receipt.enqueue(order["id"], email=order["email"])
    charge = tasks.charge_card.enqueue(order_id=order["id"], amount_cents=order["amount_cents"])
    return JsonResponse({"receipt": receipt.id, "charge": charge.id}, status=202)


@require_GET
def task_status(request: HttpRequest, result_id: str) -> JsonResponse:
    try:
        result = tasks.send_receipt.get_backend().get_result(result_id)
    except TaskResultDoesNotExist:
        return JsonResponse({"error": "no such task"}, status=404)
    answer = {"status": result.status, "attempts": result.attempts, "errors": [e.traceback for e in result.errors]}
    if result.status == "SUCCESSFUL":
        answer["value"] = result.return_value
    return JsonResponse(answer)
