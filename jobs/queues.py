"""Two Celery queues: job wake-ups, and the control work that must not wait behind them.

Wake-ups (``jobs.run_jobs``) can pile up by the hundred (the embedded broker has
no gate; the reconciler publishes past it). Background operations, the
reconciler, the approval poll and a webhook's label go to a queue of their own,
``jobs.control``, which every worker consumes beside the default one: a plain
``celery -A yourproject worker`` (no ``-Q``) consumes every queue of
``task_queues``. Both Kombu transports the engine uses take turns between the
queues a worker consumes (docs/architecture.md, "Control work and job traffic"),
so a control message waits for at most one wake-up, not for all of them.

A project puts both in its settings::

    from jobs import queues
    CELERY_TASK_QUEUES = queues.task_queues()
    CELERY_TASK_ROUTES = queues.TASK_ROUTES
"""

from __future__ import annotations

from kombu import Exchange, Queue

from jobs import task_names

CONTROL_QUEUE = "jobs.control"
# Celery's default queue: the job wake-ups, and a project's own tasks.
DEFAULT_QUEUE = "celery"

CONTROL_TASKS = (
    task_names.RUN_OPERATION,
    task_names.RECONCILE,
    task_names.POLL_APPROVALS,
    task_names.GITHUB_LABEL,
)

TASK_ROUTES = {name: {"queue": CONTROL_QUEUE} for name in CONTROL_TASKS}


def task_queues(default: str = DEFAULT_QUEUE) -> tuple[Queue, ...]:
    """The queues every worker consumes: the control queue and the default one (``default``,
    when the project renamed Celery's ``task_default_queue``)."""
    # Each with its own exchange and routing key, as Celery's own default queue: a Queue
    # given by name alone is bound with the default routing key, and would also receive
    # every message sent to the default queue.
    return tuple(Queue(name, Exchange(name), routing_key=name) for name in (CONTROL_QUEUE, default))
