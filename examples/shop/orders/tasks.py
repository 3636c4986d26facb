"""The shop's background work, written for Django's Tasks framework and for Celery, unchanged
by the console: TASKS in settings sends the @task functions to the engine, and the Celery
task runs there too when it is submitted as the entry point ``celery:orders.refund``."""

from celery import shared_task
from django.tasks import TaskContext, task


@task
def send_receipt(order_id: int, email: str) -> dict:
    return {"order": order_id, "sent_to": email}


@task(priority=60, takes_context=True)
def charge_card(context: TaskContext, order_id: int, amount_cents: int) -> dict:
    if amount_cents <= 0:
        raise ValueError(f"order {order_id}: cannot charge {amount_cents} cents")
    return {"order": order_id, "charged": amount_cents, "attempt": context.attempt}


@task
def nightly_report(day: str) -> str:
    return f"report for {day}"


@shared_task(name="orders.refund")
def refund(order_id: int, amount_cents: int) -> dict:
    return {"order": order_id, "refunded": amount_cents}
