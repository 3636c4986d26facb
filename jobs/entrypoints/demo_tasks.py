"""Demo ``django.tasks`` functions, run by the engine through jobs.tasks_backend.JobsBackend,
and one plain Celery task, run as the entry point ``celery:demo.multiply``.

    from jobs.entrypoints.demo_tasks import add
    result = add.enqueue(2, 3)
    add.get_result(result.id).return_value  # 5, once a worker ran it
"""

from __future__ import annotations

from celery import shared_task
from django.tasks import TaskContext, task

from jobs.entrypoints import demo


@task
def add(a: int, b: int) -> int:
    return a + b


@task(priority=50)
def sleep(seconds: float = 1.0) -> float:
    return demo.sleep(None, seconds=seconds)["slept"]


@task(takes_context=True)
def flaky(context: TaskContext, succeed_on: int = 2) -> int:
    """Fails until its attempt number reaches ``succeed_on``; returns that attempt."""
    if context.attempt < succeed_on:
        raise RuntimeError(f"attempt {context.attempt} failed on purpose")
    return context.attempt


@task
def explode(message: str = "boom") -> None:
    raise ValueError(message)


@task
async def add_async(a: int, b: int) -> int:
    return a + b


@shared_task(name="demo.multiply")
def multiply(a: int, b: int) -> int:
    return a * b
