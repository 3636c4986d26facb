"""Console users and their role (one of the five groups)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.roles import ROLES, ensure_roles
from jobs.services.audit import Actor, audit_record
from jobs.services.errors import InvalidInput


def user_set(*, actor: Actor, username: str, role: str, password: str | None = None):
    """Create or update a user with exactly one role. Admins are also Django staff."""
    if role not in ROLES:
        raise InvalidInput(f"role: must be one of {', '.join(ROLES)}; got {role!r}")
    if not username or len(username) > 150:
        raise InvalidInput("name: required, at most 150 characters")
    User = get_user_model()
    with transaction.atomic():
        ensure_roles()
        user, created = User.objects.get_or_create(username=username)
        if password is not None:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise InvalidInput(f"password: {' '.join(exc.messages)}") from None
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.is_staff = role == "admin"
        user.save()
        before = list(user.groups.values_list("name", flat=True))
        user.groups.set([Group.objects.get(name=role)])
        audit_record(
            actor,
            action="user.create" if created else "user.update",
            object_type="user",
            object_ids=[username],
            before={"roles": before},
            after={"role": role},
        )
    return user, created
