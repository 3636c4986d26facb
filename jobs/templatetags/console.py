"""Template filters of the console: relative times, durations, pretty JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


def _ago(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    if seconds < 10:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            count = seconds // size
            label = unit if unit in ("min", "s") else f"{unit}{'s' if count != 1 else ''}"
            text = f"{count} {label}" if unit != "s" else f"{count}s"
            return f"{text} ago" if delta.total_seconds() >= 0 else f"in {text}"
    return "just now"


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' / 'in 2 hours': like humanize's naturaltime, shorter."""
    if value is None:
        return ""
    return _ago((now or timezone.now()) - value)


@register.filter
def reltime(value: datetime | None) -> str:
    """A <time> showing the relative time, with the exact ISO time on hover."""
    if not value:
        return mark_safe('<span class="muted">—</span>')  # noqa: S308 (a constant)
    iso = value.isoformat(timespec="seconds")
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, iso, relative(value))


@register.filter
def duration_ms(value: int | float | None) -> str:
    """An uptime in milliseconds as '2h 05m' / '41s'."""
    if not value:
        return "0s"
    seconds = int(value // 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


@register.filter
def timedelta_text(value: timedelta | None) -> str:
    """A lockout or TTL length in words: '15 minutes', '2 hours'."""
    if not value:
        return ""
    minutes = round(value.total_seconds() / 60)
    if minutes % 60 == 0 and minutes >= 60:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@register.filter
def pretty_json(value: Any) -> str:
    if value is None or value == "":
        return ""
    return json.dumps(value, indent=2, sort_keys=True, cls=DjangoJSONEncoder)


@register.filter
def short_id(value: Any) -> str:
    return str(value)[:8] if value else ""


@register.filter
def role_names(user: Any) -> list[str]:
    """The roles whose permissions the user holds, leaving out those another one includes
    (an admin is not also shown as viewer). Read from the permissions Django has already
    loaded for this request's checks, so the header costs no query of its own."""
    from jobs.roles import ROLE_PERMISSIONS

    held = {perm.removeprefix("jobs.") for perm in user.get_all_permissions() if perm.startswith("jobs.")}
    roles = {role: set(granted) for role, granted in ROLE_PERMISSIONS.items() if set(granted) <= held}
    return [role for role, granted in roles.items() if not any(granted < other for other in roles.values())]
