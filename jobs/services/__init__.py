"""Every state change of the jobs system lives here, one module per concern.

Views, the API, management commands and Celery tasks call these functions and
nothing else changes a job. Each owns its transaction, its audit entry and its
side effects (events, publishing wake-ups after commit).

Services do not ask who may: a person's request reaches them through an action
of ``jobs.actions``, which authorizes it first (and records a refusal); the engine,
the beat and GitHub approvals act with the system's own authority.
"""
