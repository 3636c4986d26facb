"""Every action of the catalog, at every door that offers it: the same refusal, message and effect.

The doors are the console (a form post), the API (a JSON body with a bearer
token) and the CLI (`manage.py jobs --as USER ...`). For each action and door:

- the door exists and performs that action;
- a role without the permission gets 403 (exit 1 at the CLI) and exactly one
  ``denied`` audit entry, whether it sends nothing, nonsense or a valid call;
- bad input gets 400 at the API, the same message on the console's page, and a
  non-zero exit with the same message at the CLI;
- a valid call gives the same result and the same audit entry at every door.

The cases are built from the catalog, so an action added there is tested here
at once; what a valid and a bad call send is written out below per action.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.actions.catalog import ACTIONS, Action
from jobs.models import AuditEntry, Priority, Status
from jobs.roles import ROLE_PERMISSIONS
from tests.support.api import Api
from tests.support.console import login, make_dlq_entry, make_job, post_confirmed

pytestmark = pytest.mark.django_db

# A valid call of each action, as the fields of its input (the doors encode them).
VALID: dict[str, dict[str, Any]] = {
    "job.submit": {"entrypoint": "demo.noop", "params": {"n": 7}, "priority": "high"},
    "job.submit_batch": {"jobs": [{"entrypoint": "demo.noop", "params": {"n": 1}}]},
    "job.cancel": {"reason": "not needed"},
    "jobs.cancel": {"reason": "duplicates"},  # ids added from the world
    "jobs.bulk_freeze": {"action": "cancel", "filter": {"priority": "low"}},
    "jobs.bulk_run": {"reason": "duplicates"},  # the selection comes from the world
    "job.force_fail": {"reason": "stuck"},
    "job.approve": {"reason": "looks right"},
    "job.reject": {"reason": "too risky"},
    "approval.check": {},
    "queue.cancel_low_priority": {"reason": "Backpressure relief"},
    "queue.pause": {"entrypoint": "demo.sleep", "reason": "upstream down"},
    "queue.resume": {"entrypoint": "demo.sleep", "reason": "upstream back"},
    "dlq.retry": {"reason": "fixed"},
    "dlq.retry_edited": {"params": {"n": 2, "region": "eu"}, "reason": "n was wrong"},
    "dlq.retry_all": {"reason": "fixed upstream"},
    "dlq.retry_group": {"reason": "fixed upstream"},
    "operation.cancel": {"reason": "not now"},
    "dlq.clear": {"reason": "triaged", "confirm": "clear the dlq"},
    "dlq.discard": {"reason": "poisoned input, will not retry"},
    "dlq.clean_expired": {},
    "audit.verify": {},
    "worker.disable": {"reason": "maintenance", "confirm": "disable job system"},
    "worker.enable": {"reason": "maintenance over"},
    "emergency.force_fail_running": {"reason": "incident", "confirm": "force fail running"},
    "emergency.clear_all": {"reason": "incident", "confirm": "clear all jobs"},
    "config.update": {"queue": {"maxConcurrent": 5}, "reason": "more room"},
    "four_eyes.confirm": {},
    "four_eyes.reject": {"reason": "not during the release"},
    "jobs.import": {"text": "", "skipBadLines": False},  # the file comes from the world
}

# A bad call of each action that takes input, and the message every door gives for it.
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "job.submit": ({"entrypoint": "demo.noop", "priority": "urgent"}, "priority: Input should be"),
    "job.submit_batch": ({"jobs": []}, "jobs: List should have at least 1 item"),
    "job.cancel": ({"reason": "  "}, "reason: required"),
    "jobs.cancel": ({"reason": "x"}, "ids: required"),
    "jobs.bulk_freeze": ({"action": "cancel", "filter": {"colour": "red"}}, "filter.colour: unknown field"),
    "jobs.bulk_run": ({"reason": " "}, "reason: required"),
    "job.force_fail": ({"reason": ""}, "reason: required"),
    "job.approve": ({"reason": "x" * 2001}, "reason: String should have at most 2000 characters"),
    "job.reject": ({"reason": " "}, "reason: required"),
    "queue.cancel_low_priority": ({"reason": ""}, "reason: required"),
    "queue.pause": ({"entrypoint": "demo.sleep", "priority": "low", "reason": "x"}, "name one entry point"),
    "queue.resume": ({"reason": "x"}, "name one entry point"),
    "dlq.retry": ({"reason": "x" * 2001}, "reason: String should have at most 2000 characters"),
    "dlq.retry_edited": ({"params": {"n": 2}, "reason": " "}, "reason: required"),
    "four_eyes.reject": ({"reason": ""}, "reason: required"),
    "dlq.retry_all": ({"reason": "x" * 2001}, "reason: String should have at most 2000 characters"),
    "dlq.retry_group": ({"reason": "x" * 2001}, "reason: String should have at most 2000 characters"),
    "dlq.clear": ({"reason": " ", "confirm": "clear the dlq"}, "reason: required"),
    "dlq.discard": ({"reason": ""}, "reason: required"),
    "operation.cancel": ({"reason": " "}, "reason: required"),
    "worker.disable": ({"reason": "", "confirm": "disable job system"}, "reason: required"),
    "worker.enable": ({"reason": ""}, "reason: required"),
    "emergency.force_fail_running": ({"reason": "", "confirm": "force fail running"}, "reason: required"),
    "emergency.clear_all": ({"reason": "incident", "confirm": "yes"}, 'confirm: type "clear all jobs" to confirm'),
    "config.update": (
        {"queue": {"maxConcurrent": 0}},
        "queue.maxConcurrent: Input should be greater than or equal to 1",
    ),
    "jobs.import": ({"text": "not json\n"}, "line 1: not valid JSON"),
}


def doors_of(action: Action) -> list[str]:
    return action.doors


CASES = [(name, door) for name, action in ACTIONS.items() for door in doors_of(action)]
BAD_CASES = [(name, door) for name, door in CASES if name in BAD]


def _ids(case: tuple[str, str]) -> str:
    return f"{case[0]}@{case[1]}"


def denied_role(action: Action) -> str:
    """A role whose permissions lack the action's."""
    codename = action.permission.removeprefix("jobs.")
    return next(role for role, granted in ROLE_PERMISSIONS.items() if codename not in granted)


@dataclass
class Answer:
    """What a door said: its status (HTTP, or 0/1 for the CLI) and its words."""

    status: int
    text: str
    data: Any = None


class World:
    """The jobs an action needs: made fresh for every door, so each call meets the same state."""

    def __init__(self, action: Action, tmp_path) -> None:
        self.action = action
        self.tmp_path = tmp_path
        self.target: str | None = None
        self.extra: dict[str, Any] = {}
        getattr(self, "_" + action.name.replace(".", "_"), lambda: None)()

    def _queued(self, **fields):
        return make_job(submitted_by="someone-else", **fields)

    def _job_cancel(self):
        self.target = str(self._queued().id)

    _job_force_fail = _job_cancel

    def _jobs_cancel(self):
        self.extra["ids"] = [str(self._queued().id), str(self._queued().id)]

    def _jobs_bulk_freeze(self):
        self._queued(priority=Priority.LOW)

    def _jobs_bulk_run(self):
        """A dry run the caller (admin at every door) froze: one low-priority job to cancel."""
        from jobs.services.audit import Actor
        from jobs.services.bulk import bulk_freeze

        self._queued(priority=Priority.LOW)
        self.target = str(bulk_freeze(actor=Actor.cli("admin"), action="cancel", filters={"priority": "low"}).id)

    def _waiting(self, **fields):
        job = make_job(status=Status.WAITING_APPROVAL, issue_id="5", submitted_by="someone-else", **fields)
        self.target = str(job.id)

    def _job_approve(self):
        self._waiting()

    _job_reject = _job_approve

    def _approval_check(self):
        # Expired: the check answers without asking GitHub.
        self._waiting(approval_expires_at=timezone.now() - timedelta(minutes=1))

    def _queue_resume(self):
        from jobs.services.audit import Actor
        from jobs.services.pauses import pause_set

        pause_set(actor=Actor.cli("someone-else"), entrypoint="demo.sleep", reason="hold")

    def _queue_cancel_low_priority(self):
        self._queued(priority=Priority.LOW)

    def _dlq_retry(self):
        self.target = str(make_dlq_entry().job_id)

    _dlq_discard = _dlq_retry
    _dlq_retry_edited = _dlq_retry

    def _dlq_retry_all(self):
        make_dlq_entry()
        make_dlq_entry()

    def _dlq_retry_group(self):
        self.target = make_dlq_entry("TimeoutError: after 5s").fingerprint

    _dlq_clear = _dlq_retry_all

    def _operation_cancel(self):
        """A retry-all someone else asked for, not taken by a worker yet."""
        from jobs.services.audit import Actor
        from jobs.services.operations import dlq_retry_all_start

        make_dlq_entry()
        self.target = str(dlq_retry_all_start(actor=Actor.cli("someone-else"), background=False).id)

    def _worker_enable(self):
        from jobs.services.audit import Actor
        from jobs.services.config import config_update

        config_update(actor=Actor.cli("tests"), changes={"worker": {"enabled": False}})

    def _emergency_clear_all(self):
        self._queued()

    def _four_eyes_confirm(self):
        """Another admin asked to disable the job system (four eyes)."""
        from jobs.services.audit import Actor
        from jobs.services.four_eyes import action_request_create

        request = action_request_create(
            actor=Actor.cli("someone-else"),
            action="worker.disable",
            target=None,
            data={"reason": "maintenance", "confirm": "disable job system"},
            reason="maintenance",
        )
        self.target = str(request.id)

    _four_eyes_reject = _four_eyes_confirm

    def _jobs_import(self):
        line = {"id": "job_1", "entrypoint": "demo.noop", "status": "succeeded", "createdAt": "2025-01-02T03:04:05Z"}
        self.extra["text"] = json.dumps(line) + "\n"

    def data(self, fields: dict[str, Any]) -> dict[str, Any]:
        merged = dict(fields)
        for key, value in self.extra.items():
            if key in self.action.input.model_fields and (key not in merged or not merged[key]):
                merged[key] = value
        return merged


# The three doors, each calling one action as a user of one role.


def call_api(action: Action, username: str, users, world: World, data: dict | str | None) -> Answer:
    client = Api(users[username])
    path = "/api" + action.api_path
    if action.target:
        path = re.sub(r"\{\w+\}", str(world.target), path)
    if action.name == "jobs.import":
        text = data if isinstance(data, str) else (data or {}).get("text", "")
        response = client.post(path, raw=text, content_type="application/x-ndjson")
    elif action.api_method == "PATCH":
        response = client.patch(path, data if data is not None else {})
    else:
        response = client.post(path, data)
    body = response.json() if response.content else None
    return Answer(response.status_code, (body or {}).get("error", "") if response.status_code >= 400 else "", body)


def _console_form(action: Action, data: dict) -> dict[str, Any]:
    if action.name == "config.update":  # the settings page names its fields section.setting
        form = {
            f"{section}.{name}": value
            for section, values in data.items()
            if section != "reason"
            for name, value in values.items()
        }
        # An unchecked box posts nothing: carry the current switches, as the page's form does.
        form |= {"worker.enabled": "on", "dlq.enabled": "on", "reason": data.get("reason", "")}
        return form
    # A JSON object is typed into a text area (the params of a retry with edited params).
    return {
        key: json.dumps(value) if isinstance(value, dict) else value for key, value in data.items() if value is not None
    }


def call_console(action: Action, username: str, users, world: World, data: dict | None) -> Answer:
    client = login(Client(), users[username])
    assert action.console is not None
    url = reverse(f"jobs:{action.console.url_name}", args=[world.target] if action.target else [])
    response = post_confirmed(client, url, _console_form(action, data or {}), follow=True)  # a bulk action's preview
    if response.redirect_chain and "/operations/" in response.redirect_chain[-1][0]:
        return Answer(response.status_code, "")  # the console shows the operation's progress instead of a line
    text = response.content.decode()
    messages = [str(message) for message in response.context["messages"]] if response.context else []
    return Answer(response.status_code, " ".join(messages) or text)


def _cli_args(action: Action, world: World, data: dict) -> list[str]:
    args = [*action.cli.split()]
    # The shell has an option per field of the action's input, and no way to send others.
    data = {field: value for field, value in data.items() if field in action.input.model_fields}
    if action.target:
        args.append(str(world.target))
    for field, value in data.items():
        if action.name == "jobs.import" and field == "text":
            path = world.tmp_path / "jobs.jsonl"
            path.write_text(value)
            args.append(str(path))
            continue
        if field == "entrypoint" and action.name == "job.submit":  # `jobs submit ENTRYPOINT`
            args.insert(1, value)
            continue
        flag = "--" + re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), field)
        if value is True:
            args.append(flag)
        elif value is not False:
            args += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    return args


def call_cli(action: Action, username: str, users, world: World, data: dict | None) -> Answer:
    out, err = StringIO(), StringIO()
    args = ["--as", username, *_cli_args(action, world, data or {})]
    try:
        call_command("jobs", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return Answer(1, str(exc))
    return Answer(0, out.getvalue().strip())


DOORS = {"api": call_api, "console": call_console, "cli": call_cli}
REFUSED = {"api": 403, "console": 403, "cli": 1}


def denied_entries(action: Action) -> int:
    return AuditEntry.objects.filter(action=action.name, outcome=AuditEntry.Outcome.DENIED).count()


@pytest.mark.parametrize(("name", "door"), CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("body", ["empty", "bad", "valid"])
def test_a_role_without_the_permission_is_refused_once_whatever_it_sends(name, door, body, users, tmp_path):
    action = ACTIONS[name]
    world = World(action, tmp_path)
    data = {"empty": {}, "bad": BAD.get(name, ({"reason": 42},))[0], "valid": world.data(VALID[name])}[body]
    role = denied_role(action)

    answer = DOORS[door](action, role, users, world, data)

    assert answer.status == REFUSED[door], answer.text
    if door == "cli":
        assert "permission denied" in answer.text
    assert denied_entries(action) == 1
    assert not AuditEntry.objects.filter(action=name, outcome=AuditEntry.Outcome.OK).exists()


@pytest.mark.parametrize(("name", "door"), BAD_CASES, ids=[_ids(c) for c in BAD_CASES])
def test_bad_input_gets_the_same_message_at_every_door_and_changes_nothing(name, door, users, tmp_path):
    action = ACTIONS[name]
    world = World(action, tmp_path)
    data, message = BAD[name]
    answer = DOORS[door](action, "admin", users, world, data)

    assert answer.status == {"api": 400, "console": 400, "cli": 1}[door], answer.text
    assert message in (answer.text if door != "console" else answer.text.replace("&quot;", '"')), answer.text
    assert not AuditEntry.objects.filter(action=name).exists()


def _effects(after_id: int) -> list[dict[str, Any]]:
    """The audit entries a call wrote, without what differs between two runs (ids, times, source)."""
    entries = AuditEntry.objects.filter(id__gt=after_id).exclude(action__startswith="token.").order_by("id")
    return [
        {
            "action": entry.action,
            "actor": entry.actor,
            "outcome": entry.outcome,
            "object_type": entry.object_type,
            "objects": len(entry.object_ids),
            "reason": entry.reason,
            "before": _without_ids(entry.before),
            "after": _without_ids(entry.after),
        }
        for entry in entries
    ]


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?")
_EXPORT = re.compile(r"/\S+\.jsonl")


def _without_ids(value: Any) -> Any:
    return json.loads(_TIME.sub("TIME", _EXPORT.sub("EXPORT", _UUID.sub("ID", json.dumps(value, sort_keys=True)))))


def _said(text: str) -> str:
    """An action's line as the CLI prints it and the console shows it (a capital and a full stop there)."""
    said = _EXPORT.sub("EXPORT", _UUID.sub("ID", text.strip())).rstrip(".")
    return said[:1].lower() + said[1:]


@pytest.mark.parametrize("name", list(ACTIONS), ids=list(ACTIONS))
def test_a_valid_call_has_the_same_result_and_audit_entry_at_every_door(name, users, tmp_path):
    action = ACTIONS[name]
    effects, lines = {}, {}
    for door in action.doors:
        (tmp_path / door).mkdir()
        world = World(action, tmp_path / door)
        start = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        answer = DOORS[door](action, "admin", users, world, world.data(VALID[name]))
        assert answer.status in ({"api": (200, 201, 202), "console": (200,), "cli": (0,)}[door]), answer.text
        _run_pending_operations()
        effects[door] = _effects(start)
        assert effects[door], f"{name} at the {door} wrote no audit entry"
        if answer.text:
            lines[door] = _said(answer.text.splitlines()[0])
        _reset_between_doors()

    assert len({json.dumps(effect, sort_keys=True) for effect in effects.values()}) == 1, effects
    if action.name == "config.update":  # the console's settings form says what it saved in its own words
        lines.pop("console", None)
    assert len(set(lines.values())) <= 1, lines


def _run_pending_operations() -> None:
    """What a worker does with an operation an action started (the CLI runs its own)."""
    from jobs.models import BackgroundOperation
    from jobs.services.operations import operation_run

    for operation in BackgroundOperation.objects.filter(state=BackgroundOperation.State.PENDING):
        operation_run(operation.id)


def _reset_between_doors() -> None:
    """Start the next door from the same state: no jobs, and the job system on."""
    from jobs.models import DLQEntry, Job, Pause
    from jobs.services.audit import Actor
    from jobs.services.config import config_update

    DLQEntry.objects.all().delete()
    Pause.objects.all().delete()
    Job.objects.update(retried_from=None)
    Job.objects.all().delete()
    config_update(actor=Actor.cli("tests"), changes={"worker": {"enabled": True}, "queue": {"maxConcurrent": 3}})


def test_every_door_an_action_names_exists():
    from jobs.api import api
    from jobs.management.commands.jobs import Command

    paths = api.get_openapi_schema()["paths"]
    parser = Command().create_parser("manage.py", "jobs")
    for action in ACTIONS.values():
        assert action.doors, f"{action.name} has no door"
        if action.console:
            # A job, a request or an operation is named by a UUID; an error group by its fingerprint.
            target = ["0123abcd"] if action.target == "fingerprint" else ["3c8f1d2e-0000-4000-8000-000000000001"]
            reverse(f"jobs:{action.console.url_name}", args=target if action.target else [])
        if action.api:
            assert action.api_method.lower() in paths[action.api.split()[1]], action.api
        if action.cli:
            assert _subcommand(parser, action.cli.split()) is not None, action.cli


def _subcommand(parser, words: list[str]):
    for word in words:
        choices = next(
            a.choices for a in parser._actions if getattr(a, "choices", None) and isinstance(a.choices, dict)
        )
        parser = choices.get(word)
        if parser is None:
            return None
    return parser
