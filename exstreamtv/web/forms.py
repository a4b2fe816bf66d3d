"""Form descriptions generated from the voluptuous schemas that validate the YAML.

The editor page draws its forms from ``GET /api/config/forms``, so a scheduler a plugin
registers gets a form with no front-end code. Each field is
``{"name", "kind", "required", "default", "choices", "fields", "help"}`` where ``kind`` is
one of :class:`FieldKind`: scalars become inputs, a list of mappings becomes a repeatable
group of sub-forms (``fields``), and anything the walker cannot describe becomes a JSON
text area (still validated by the same schema on save, errors at its key path).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

import voluptuous as vol

from exstreamtv.config import schema
from exstreamtv.config.reference import describe
from exstreamtv.config.validators import Section
from exstreamtv.registry import Registry


class FieldKind(Enum):
    """How a field is edited on the page."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    GROUP = "group"  # a nested mapping: its own sub-form
    GROUP_LIST = "group_list"  # a list of sub-forms
    JSON = "json"


#: Channel keys the page edits with their own controls (not from a generic walk).
CHANNEL_SPECIAL = ("schedule", "ffmpeg")


def _fields_of(validator: Any) -> Mapping[Any, Any] | None:
    """The key -> validator mapping inside ``validator`` (Schema, All, Section), if any."""
    if isinstance(validator, Section):
        return validator.fields
    if isinstance(validator, vol.Schema):
        return _fields_of(validator.schema)
    if isinstance(validator, vol.All):
        for inner in validator.validators:
            found = _fields_of(inner)
            if found is not None:
                return found
        return None
    if isinstance(validator, Mapping):
        return validator
    return None


def _default(key: Any) -> Any:
    default = getattr(key, "default", vol.UNDEFINED)
    if default is vol.UNDEFINED:
        return None
    value = default() if callable(default) else default
    try:
        json.dumps(value)
    except TypeError:
        return str(value)
    return value


def _kind(validator: Any) -> tuple[FieldKind, list[str], list[dict[str, Any]]]:
    if isinstance(validator, Section):
        return FieldKind.GROUP, [], describe_fields(validator.fields)
    choices = getattr(validator, "choices", None)
    if choices:
        return FieldKind.CHOICE, [str(c) for c in choices], []
    if isinstance(validator, vol.In):
        return FieldKind.CHOICE, [str(c) for c in validator.container], []  # type: ignore[union-attr]
    if validator is bool:
        return FieldKind.BOOLEAN, [], []
    item = getattr(validator, "item_schema", None)
    if item is not None:
        validator = [item]
    if isinstance(validator, list) and len(validator) == 1:
        inner = _fields_of(validator[0])
        if inner is not None:
            return FieldKind.GROUP_LIST, [], describe_fields(inner)
        return FieldKind.JSON, [], []
    text = describe(validator).lower()
    if validator is int or "integer" in text:
        return FieldKind.INTEGER, [], []
    if validator is float or "number" in text or "hours" in text:
        return FieldKind.NUMBER, [], []
    if validator is str or "string" in text or "an id" in text or "hh:mm" in text:
        return FieldKind.TEXT, [], []
    return FieldKind.JSON, [], []


def describe_fields(fields: Mapping[Any, Any], skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One field description per key of a schema mapping (see the module docstring)."""
    out = []
    for key, validator in fields.items():
        name = str(getattr(key, "schema", key))
        if name in skip:
            continue
        kind, choices, sub = _kind(validator)
        out.append({
            "name": name,
            "kind": kind.value,
            "required": isinstance(key, vol.Required),
            "default": _default(key),
            "choices": choices,
            "fields": sub,
            "help": "" if kind in (FieldKind.GROUP, FieldKind.GROUP_LIST) else describe(validator),
        })
    return out


def _components(registry: Registry, kind: str) -> dict[str, Any]:
    """A form per registered type of ``kind`` (scheduler, source), from its option schema."""
    out = {}
    for name, component in sorted(registry.components[kind].items()):
        fields = _fields_of(component.schema)
        out[name] = {
            "description": component.description,
            "plugin": component.plugin,
            "fields": describe_fields(fields) if fields is not None else [
                {"name": "options", "kind": FieldKind.JSON.value, "required": False,
                 "default": None, "choices": [], "fields": [], "help": "options as JSON"}],
        }
    return out


def forms(registry: Registry, sections: tuple[str, ...] = ()) -> dict[str, Any]:
    """The channel form, a schedule form per scheduler type, a form per source type, and
    a form for each of ``sections`` (core settings sections)."""
    return {"channel": describe_fields(schema.CHANNEL.fields, CHANNEL_SPECIAL),
            "schedulers": _components(registry, "scheduler"),
            "sources": _components(registry, "source"),
            "sections": {name: describe_fields(schema.CORE_SECTIONS[name].fields)
                         for name in sections}}
