"""The worker engine: how queued jobs become running and end, across every worker.

- admission: slot rows that hold maxConcurrent without a global lock; the claim.
- runner: one job's entry point under maxJobRuntimeMs, in any Celery pool.
- outcomes: succeeded, waiting for approval, failed attempt (retry or DLQ).
- runtime: a worker process, its heartbeat and leases, and the drain loop.
- reconciler: periodic repair of lost workers, slots and wake-ups.
- wakeups: publishing wake-up messages by task name, about one per free slot.

Services call into the engine only through ``wakeups`` (and the reconciler for
"enable"); the engine calls services for config, events, the DLQ and approvals.
Celery tasks (jobs/tasks.py) are thin adapters over ``runtime`` and ``reconciler``.
"""
