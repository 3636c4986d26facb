"""Everything the app serves, mounted by a project with ``path("ops/", include("jobs.urls"))``:
sign-in, the console's pages, one URL per runbook action of the catalog (POST-only),
the JSON API, /metrics and the GitHub webhook."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from jobs.actions.catalog import ACTIONS
from jobs.api import api
from jobs.api.metrics import metrics
from jobs.github.webhook import webhook
from jobs.views import (
    approvals,
    audit,
    bulk,
    config,
    dashboard,
    dlq,
    emergency,
    events,
    job_pages,
    queue,
    requests,
    timeline,
    workers,
)
from jobs.views.actions import action_view
from jobs.views.history import history_page

# The console's own sign-in (JOBS_LOGIN_URL may send visitors to the project's instead).
accounts = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="jobs/login.html", next_page="jobs:dashboard"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="jobs:login"), name="logout"),
]

for_machines = [
    path("metrics", metrics, name="metrics"),
    path("github/webhook", webhook, name="github-webhook"),
]

pages = [
    path("", dashboard.dashboard, name="dashboard"),
    path("jobs/", job_pages.job_list, name="job-list"),
    path("jobs/<uuid:job_id>/", job_pages.job_detail, name="job-detail"),
    path("jobs/bulk/<uuid:selection_id>/", bulk.bulk_detail, name="bulk-detail"),
    path("dlq/", dlq.dlq_list, name="dlq-list"),
    path("operations/<uuid:operation_id>/", dlq.operation_detail, name="operation-detail"),
    path("backpressure/", queue.backpressure, name="backpressure"),
    path("approvals/", approvals.approval_list, name="approval-list"),
    path("workers/", workers.worker_list, name="worker-list"),
    path("events/", events.event_list, name="event-list"),
    path("history/", history_page, name="history"),
    path("incident/", timeline.incident_timeline, name="incident"),
    path("emergency/", emergency.emergency, name="emergency"),
    path("requests/", requests.request_list, name="request-list"),
    path("exports/<str:name>", emergency.export_download, name="export-download"),
    path("audit/", audit.audit_list, name="audit-list"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
    path("audit/verify", audit.audit_verify_view, name="audit-verify"),
    path("config/", config.config_page, name="config"),
]

# Forms of their own: every setting, or the capacity panel (config.update); a retry with edited params.
settings_forms = [
    path("config/update", config.config_update_view, name="config-update"),
    path("backpressure/capacity", queue.capacity_update, name="capacity-update"),
    # The dlq.retry_edited action: a form that shows the job's params to edit.
    path("dlq/<uuid:target>/retry-edited", dlq.dlq_retry_edited_view, name="dlq-retry-edited"),
    # The jobs.bulk_freeze action: answers the dry-run page of the selection it froze.
    path("jobs/bulk", bulk.bulk_freeze_view, name="bulk-freeze"),
]

actions = [
    path(action.console.path, action_view, {"action": action.name}, name=action.console.url_name)
    for action in ACTIONS.values()
    if action.console is not None and action.console.generic
]

# URL names under the "jobs" namespace ("jobs:dashboard"); the API's are under its own
# ("jobs-api"), since django-ninja reverses its routes by a namespace it is not nested in.
urlpatterns = [
    path("api/", api.urls),
    path("", include((accounts + for_machines + pages + settings_forms + actions, "jobs"))),
]
