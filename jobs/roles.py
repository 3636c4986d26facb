"""The five roles of DESIGN.md as Django groups, and the permissions each holds."""

from __future__ import annotations

from django.apps import apps as current_apps
from django.apps.registry import Apps

VIEW = ["view_console"]
OPERATE = ["submit_job", "retry_job", "cancel_job", "clean_dlq", "check_approval"]
APPROVE = ["approve_job"]
ADMINISTER = ["clear_dlq", "force_fail_job", "emergency", "manage_config", "import_jobs", "view_audit"]
AUDIT = ["view_audit"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "viewer": VIEW,
    "operator": VIEW + OPERATE,
    "approver": VIEW + APPROVE,
    "admin": VIEW + OPERATE + APPROVE + ADMINISTER,
    "auditor": VIEW + AUDIT,
}
ROLES = tuple(ROLE_PERMISSIONS)


def ensure_roles(apps: Apps | None = None) -> None:
    """Create or update the role groups. Used by a migration, `jobs user add` and tests."""
    # The current models, or the historical ones a migration passes.
    registry = current_apps if apps is None else apps
    Group = registry.get_model("auth", "Group")
    Permission = registry.get_model("auth", "Permission")
    ContentType = registry.get_model("contenttypes", "ContentType")
    from jobs.models import Job

    # The permissions of Job.Meta; a migration's historical model may lack later ones.
    content_type, _ = ContentType.objects.get_or_create(app_label="jobs", model="job")
    codenames = dict(Job._meta.permissions)
    permissions = {}
    for codename, label in codenames.items():
        permissions[codename], _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": label}
        )
    for role, granted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([permissions[codename] for codename in granted])
