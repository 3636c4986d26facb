"""The catalog as the tables of docs/console.md, docs/api.md and the README.

Each table sits between ``<!-- catalog:NAME -->`` and ``<!-- /catalog:NAME -->``
in its document; ``python manage.py jobs docs --write`` rewrites them, and a test
fails when a document differs from what the catalog says.
"""

from __future__ import annotations

import re
from pathlib import Path

from jobs.actions.catalog import ACTIONS, Action
from jobs.roles import ROLE_PERMISSIONS

DOCUMENTS = {
    "docs/console.md": "console",
    "docs/api.md": "api",
    "README.md": "runbook",
}


def roles_holding(permission: str) -> str:
    codename = permission.removeprefix("jobs.")
    return ", ".join(role for role, granted in ROLE_PERMISSIONS.items() if codename in granted)


def _fields(action: Action, *, api: bool = False) -> str:
    if api and action.name == "jobs.import":
        return "JSONL text, one job per line; `?skipBadLines=true`"
    names = list(action.input.model_fields)
    return ", ".join(f"`{name}`" for name in names) or "none"


def _confirmation(action: Action, *, api: bool = False) -> str:
    if not action.confirm or (api and not action.confirm_over_api):
        return ""
    return f'; typed "{action.confirm}"'


def _preview(action: Action, *, door: str) -> str:
    # The console shows a bulk action's count by entry point and asks to confirm it first.
    return "; asks first, with the count by entry point" if door == "console" and action.preview else ""


def _door_table(door: str, first_column: str) -> str:
    """One row per action the door offers: where, who may, what it takes, which action."""
    rows = [f"| {first_column} | permission (roles) | input | action |", "|---|---|---|---|"]
    for action in ACTIONS.values():
        if door == "console" and action.console:
            where = f"`jobs:{action.console.url_name}` POST `/{action.console.path}`"
        elif door == "api" and action.api:
            where = f"`{action.api}`"
        else:
            continue
        api = door == "api"
        rows.append(
            f"| {where} | {action.permission.removeprefix('jobs.')} ({roles_holding(action.permission)}) | "
            f"{_fields(action, api=api)}{_confirmation(action, api=api)}{_preview(action, door=door)} "
            f"| `{action.name}` |"
        )
    return "\n".join(rows)


def console_table() -> str:
    return _door_table("console", "URL name, path")


def api_table() -> str:
    return _door_table("api", "method, path")


def runbook_table() -> str:
    rows = ["| runbook | action | console | API | command |", "|---|---|---|---|---|"]
    for action in ACTIONS.values():
        console = f"`jobs:{action.console.url_name}`" if action.console else ""
        api = f"`{action.api}`" if action.api else ""
        cli = f"`jobs {action.cli}`" if action.cli else ""
        rows.append(f"| {action.runbook} | {action.title} (`{action.name}`) | {console} | {api} | {cli} |")
    return "\n".join(rows)


TABLES = {"console": console_table, "api": api_table, "runbook": runbook_table}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- catalog:{name} -->\n)(?:.*?\n)?(<!-- /catalog:{name} -->)", re.S)


def rendered(text: str, name: str) -> str:
    """``text`` with its catalog table ``name`` as the catalog says it now."""
    pattern = _block(name)
    if not pattern.search(text):
        raise ValueError(f"no <!-- catalog:{name} --> block")
    return pattern.sub(lambda match: match.group(1) + TABLES[name]() + "\n" + match.group(2), text)


def stale_documents(root: Path) -> list[str]:
    """The documents whose catalog table differs from the catalog."""
    stale = []
    for path, name in DOCUMENTS.items():
        text = (root / path).read_text(encoding="utf-8")
        if rendered(text, name) != text:
            stale.append(path)
    return stale


def write_documents(root: Path) -> list[str]:
    written = []
    for path, name in DOCUMENTS.items():
        document = root / path
        text = document.read_text(encoding="utf-8")
        new = rendered(text, name)
        if new != text:
            document.write_text(new, encoding="utf-8")
            written.append(path)
    return written
