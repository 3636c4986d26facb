"""Every state change of the jobs system lives here, one module per concern.

Views, the API, management commands and Celery tasks call these functions and
nothing else changes a job. Each owns its transaction, its audit entry and its
side effects (events, publishing wake-ups after commit).
"""
