"""The names of the Celery tasks (jobs/tasks.py), for code that publishes them.

Publishing by name (``current_app.send_task``) lets services, the engine and the
webhook send work to a worker without importing jobs.tasks, which imports them.
"""

RUN_JOBS = "jobs.run_jobs"
RUN_OPERATION = "jobs.run_operation"
RECONCILE = "jobs.reconcile"
POLL_APPROVALS = "jobs.poll_approvals"
GITHUB_LABEL = "jobs.github_label"
