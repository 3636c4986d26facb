"""What each action takes: one schema per input shape, validated once, whatever the door.

The console posts form fields, the API a JSON body, the CLI its options; each
door hands them over as a mapping and the action's input model decides. Fields an
action does not use are ignored, so a script may send one body (reason, confirm)
to every emergency action; submissions and settings refuse unknown fields instead,
so that a misspelt ``maxAttempt`` is an error rather than a silent default.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

__all__ = ["ValidationError"]  # what a failed validation raises, for the doors

from jobs import jobsconfig
from jobs.actions.fields import NO_NUL, Text, find_nul

PriorityName = Literal["critical", "high", "normal", "low"]
StatusName = Literal["waiting_approval", "queued", "running", "succeeded", "failed", "canceled"]
IssueRef = Annotated[Text, Field(max_length=200)] | Annotated[StrictInt, Field(ge=1)]


def _present(value: str) -> str:
    if not value:
        raise PydanticCustomError("blank", "required")
    return value


# A reason is kept in the audit trail: surrounding blanks are dropped, and a blank one is no reason.
ReasonText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), *NO_NUL]
RequiredReason = Annotated[ReasonText, AfterValidator(_present)]


class ActionInput(BaseModel):
    """Input of an action: unknown fields are ignored (see the module's docstring)."""

    model_config = ConfigDict(extra="ignore")


class StrictInput(BaseModel):
    """Input that refuses unknown fields and names them."""

    model_config = ConfigDict(extra="forbid")


class NoInput(ActionInput):
    """The action takes nothing but its target."""


class Reason(ActionInput):
    reason: RequiredReason


class OptionalReason(StrictInput):
    # Refuses unknown fields: with every field optional, that is what keeps a body
    # that is not an object at all (a JSON list) from being read as an empty one.
    reason: ReasonText = ""


class Confirmed(Reason):
    """A destructive action: a reason, and the action's phrase typed out (checked by the action)."""

    confirm: Text = Field("", max_length=100, description="the action's confirmation phrase, typed out")


def _json_text(value: Any) -> Any:
    """A form posts a JSON object as text; the API and the CLI send the object itself."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value, parse_constant=_no_constant)
    except ValueError as exc:
        raise PydanticCustomError("json_object", "must be a JSON object ({error})", {"error": str(exc)}) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    if path := find_nul(value):
        raise PydanticCustomError("nul_character", "{path} must not contain NUL characters", {"path": path})
    return value


JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_text), AfterValidator(_storable)]


class EditedRetry(StrictInput):
    params: JsonObject = Field(description="the new job's params, whole (the old job keeps its own)")
    reason: RequiredReason


class PauseTarget(Reason):
    """One entry point, or one priority (the action says so when both or neither is given)."""

    entrypoint: Text | None = Field(None, max_length=200, description="the entry point to pause or resume")
    priority: PriorityName | None = Field(None, description="or a priority instead")


class BulkCancel(Reason):
    ids: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=1000)


def _blank_is_none(value: Any) -> Any:
    """A form's empty select or text box means "any"."""
    return None if value == "" else value


BlankIsNone = BeforeValidator(_blank_is_none)


class BulkFilter(StrictInput):
    """The Jobs page's filters (GET /api/jobs's): every one given must hold; none means every job."""

    status: Annotated[StatusName | None, BlankIsNone] = None
    priority: Annotated[PriorityName | None, BlankIsNone] = None
    entrypoint: Annotated[Annotated[Text, Field(max_length=200)] | None, BlankIsNone] = None
    # An id, the start of a jobKey, or part of lastError.
    q: Annotated[Annotated[Text, Field(max_length=255)] | None, BlankIsNone] = None
    params: Annotated[
        dict[str, Any] | Text | None,
        BlankIsNone,
        Field(description='what params hold: {"region": "eu"} or "region=eu,customer.tier=gold"'),
    ] = None


class BulkFreeze(StrictInput):
    """A bulk action's dry run: which jobs it would hit, frozen. Changes no job."""

    action: Literal["cancel", "retry", "force_fail"] = Field(
        description="cancel (operator), retry the DLQ entries (operator) or force_fail (admin)"
    )
    filter: Annotated[BulkFilter | None, BeforeValidator(_json_text)] = None
    ids: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, min_length=1, max_length=1000, description="picked jobs, instead of a filter"
    )


class Submission(StrictInput):
    entrypoint: Text = Field(min_length=1, max_length=200)
    params: dict[str, Any] | None = None
    priority: PriorityName | None = None
    maxAttempts: StrictInt | None = Field(None, ge=1, le=100)
    # GitHub issue numbers are integers; "42", "#42", "owner/repo#42" or the URL work too.
    issueId: IssueRef | None = None
    jobKey: Text | None = Field(None, min_length=1, max_length=255)

    def service_fields(self) -> dict[str, Any]:
        """The submission in the names job_submit takes."""
        return {
            "entrypoint": self.entrypoint,
            "params": self.params,
            "priority": self.priority,
            "max_attempts": self.maxAttempts,
            "issue_id": self.issueId,
            "job_key": self.jobKey,
        }


class SubmissionBatch(StrictInput):
    # Items are checked one by one (Submission), so one bad item gets its own error.
    jobs: list[Any] = Field(min_length=1, max_length=1000)


def _section_patch(section: object) -> type[BaseModel]:
    """A jobs.json section with every setting optional: its types and ranges, from jobsconfig."""
    assert isinstance(section, type) and issubclass(section, BaseModel), section  # a JobsSettings field's type
    fields: dict[str, Any] = {
        name: (_strict(info.annotation) | None, Field(None, **_bounds(info)))
        for name, info in section.model_fields.items()
    }
    patch = create_model(f"{section.__name__}Patch", __base__=StrictInput, **fields)
    return patch


# jobs.json is strict: "5" is not a number of slots, 1 is not true, true is not 1 hour.
_STRICT: dict[Any, Any] = {int: StrictInt, float: StrictFloat, bool: StrictBool, list[str]: list[Text]}


def _strict(annotation: Any) -> Any:
    """A jobsconfig field's type as jobs.json checks it."""
    return _STRICT.get(annotation, annotation)


def _bounds(info) -> dict[str, Any]:
    """The numeric and length bounds of a jobsconfig field, to repeat them on its patch."""
    bounds: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
    return bounds


SECTION_PATCHES = {name: _section_patch(info.annotation) for name, info in jobsconfig.JobsSettings.model_fields.items()}
# Each section optional. Typed as in _section_patch: a union built at run time is no type expression for mypy.
_OPTIONAL_SECTIONS: dict[str, Any] = {name: (patch | None, None) for name, patch in SECTION_PATCHES.items()}


ConfigPatch = create_model(
    "ConfigPatch",
    __base__=StrictInput,
    **_OPTIONAL_SECTIONS,
    reason=(ReasonText, Field("", description="why; kept in the audit entry")),
)
ConfigPatch.model_config["json_schema_extra"] = {"anyOf": [{"required": [name]} for name in SECTION_PATCHES]}
ConfigPatch.model_rebuild(force=True)
ConfigPatch.__doc__ = "Some of the jobs.json sections; at least one. Each setting is checked as jobs.json checks it."


def config_changes(patch: BaseModel) -> dict[str, Any]:
    """The settings a ConfigPatch carries, as a partial jobs.json."""
    return patch.model_dump(exclude_unset=True, exclude_none=True, exclude={"reason"})


class JsonlImport(StrictInput):
    text: str = Field(description="JSONL: one job per line, as the export writes them")
    skipBadLines: bool = False
