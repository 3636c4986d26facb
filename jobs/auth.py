"""Django's ModelBackend, reading a user's permissions in one query instead of two.

Every console page checks permissions (the view's role check, the buttons a role
may use, the header's role names), and ModelBackend loads the user's own
permissions and their groups' in two queries. Here one query reads both; the set is
cached on the user for the request, as ModelBackend caches it.

    AUTHENTICATION_BACKENDS = ["jobs.auth.PermissionsInOneQueryBackend"]
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class PermissionsInOneQueryBackend(ModelBackend):
    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            granted = Permission.objects.all()
            if not user_obj.is_superuser:
                granted = granted.filter(Q(user=user_obj) | Q(group__user=user_obj))
            rows = granted.values_list("content_type__app_label", "codename").distinct().order_by()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache
