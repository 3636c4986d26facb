"""Forms of the console's pages: filters, and the settings forms that parse typed fields.

The runbook buttons post straight to their catalog action (jobs.actions), whose
input model validates them as it validates the API's and the CLI's.
"""

from __future__ import annotations

from typing import Any

from django import forms

from jobs import entrypoints, selectors
from jobs.jobsconfig import JobsSettings
from jobs.models import Priority, Status
from jobs.services.errors import InvalidInput


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *[(s, s) for s in Status.values]])
    priority = forms.ChoiceField(
        required=False, choices=[("", "any priority"), *[(p.label, p.label) for p in Priority]]
    )
    entrypoint = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, max_length=255, strip=True)
    # region=eu, customer.tier=gold, or a JSON object such as {"region": "eu"} (jobs.selectors.params).
    params = forms.CharField(
        required=False, max_length=1000, strip=True, widget=forms.TextInput(attrs={"placeholder": "region=eu"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        entrypoint = self.fields["entrypoint"]
        assert isinstance(entrypoint, forms.ChoiceField)
        entrypoint.choices = [("", "any entry point"), *[(n, n) for n in entrypoints.names()]]

    def clean_params(self) -> dict | None:
        """The containment document of jobs.selectors.params; a malformed filter is the field's error."""
        try:
            return selectors.params_filter(self.cleaned_data["params"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=200, strip=True)
    action = forms.CharField(required=False, max_length=60, strip=True)
    object = forms.CharField(required=False, max_length=200, strip=True)
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class CapacityForm(forms.Form):
    maxConcurrent = forms.IntegerField()  # noqa: N815 (the jobs.json field name)
    maxQueueSize = forms.IntegerField()  # noqa: N815
    reason = forms.CharField(max_length=1000, strip=True, required=False)


def config_fields(cfg: JobsSettings) -> list[dict[str, Any]]:
    """The jobs.json settings as sections of typed fields, for the configuration page."""
    sections = []
    for section, model in cfg:
        fields = []
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            kind = {bool: "bool", int: "int", float: "float"}.get(info.annotation, "list")
            shown = ", ".join(value) if kind == "list" else value
            fields.append({"key": f"{section}.{name}", "name": name, "kind": kind, "value": shown})
        sections.append({"name": section, "fields": fields})
    return sections


def config_changes(cfg: JobsSettings, data) -> dict[str, Any]:
    """The settings that differ from ``cfg`` in the posted form, typed; bad numbers name their field."""
    changes: dict[str, Any] = {}
    for section in config_fields(cfg):
        for field in section["fields"]:
            key, raw = field["key"], data.get(field["key"])
            if field["kind"] == "bool":
                # An unchecked box posts nothing: a switch changes only when the form says it carries it.
                if key not in data.getlist("switches"):
                    continue
                value: Any = raw == "on"
            elif raw is None:
                continue
            elif "\x00" in raw:
                raise InvalidInput(f"{key}: must not contain NUL characters")
            elif field["kind"] == "list":
                value = [item.strip() for item in raw.split(",")]
            else:
                try:
                    value = int(raw) if field["kind"] == "int" else float(raw)
                except ValueError:
                    raise InvalidInput(f"{key}: must be a number") from None
            current = getattr(getattr(cfg, section["name"]), field["name"])
            if value != current:
                changes.setdefault(section["name"], {})[field["name"]] = value
    return changes
