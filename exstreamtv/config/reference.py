"""The configuration reference, generated from the schemas so it cannot drift.

Keys, defaults and allowed values come from the voluptuous schemas (core sections and
every plugin's options); descriptions come from the comments in the example config.
Regenerate docs/configuration.md with::

    python -m exstreamtv.config.reference > docs/configuration.md
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol

from exstreamtv.config import files, schema
from exstreamtv.config.validators import Section
from exstreamtv.media.collections import QUERY_KEYS, QUERY_MEANINGS
from exstreamtv.scheduling.breaks import BREAK_SCHEMA, FILLER_LIST, MEANINGS

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "exstreamtv.yaml"
_LINE = re.compile(r"^(?P<indent>\s*)(?:- )?(?P<key>[A-Za-z_][\w]*):(?P<rest>.*)$")


def example_comments(path: Path = EXAMPLE) -> dict[str, str]:
    """``{"server.port": "comment"}`` from the example config's trailing comments."""
    comments: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    if not path.exists():
        return comments
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"]) + (2 if line.lstrip().startswith("- ") else 0)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        key = ".".join(k for _, k in stack)
        if "#" in match["rest"]:
            comments.setdefault(key, match["rest"].split("#", 1)[1].strip())
    return comments


def describe(validator: Any) -> str:
    """A short human description of what a validator accepts."""
    doc = getattr(validator, "__doc__", "") or ""
    name = getattr(validator, "__qualname__", "")
    if isinstance(validator, type):
        return validator.__name__
    if isinstance(validator, list):
        return f"list of {describe(validator[0])}" if validator else "list"
    if isinstance(validator, vol.In):
        return "one of " + ", ".join(str(c) for c in validator.container)  # type: ignore[union-attr]
    if isinstance(validator, vol.All):
        return "; ".join(describe(v) for v in validator.validators if describe(v))
    if isinstance(validator, vol.Range):
        lo = "" if validator.min is None else f">= {validator.min}"
        hi = "" if validator.max is None else f"<= {validator.max}"
        return " and ".join(x for x in (lo, hi) if x)
    if isinstance(validator, vol.Match):
        return f"matching {validator.pattern.pattern}"
    if isinstance(validator, vol.Any):
        return " or ".join(describe(v) if v is not None else "null" for v in validator.validators)
    if isinstance(validator, vol.Schema):
        return describe(validator.schema)
    if isinstance(validator, Mapping):
        return "mapping"
    if getattr(validator, "choices", None):
        return "one of " + ", ".join(map(str, validator.choices))
    if "nullable" in name or getattr(validator, "nullable", False):
        inner = getattr(validator, "inner", None)
        return f"null or {describe(inner)}" if inner is not None else "null or value"
    return doc.strip().splitlines()[0].rstrip(".") if doc.strip() else ""


def _default(key: Any) -> str:
    if isinstance(key, vol.Required):
        return "required"
    default = getattr(key, "default", vol.UNDEFINED)
    if default is vol.UNDEFINED:
        return ""
    value = default() if callable(default) else default
    return json.dumps(value)


def rows(fields: Mapping[Any, Any], prefix: str) -> Iterator[tuple[str, str, str]]:
    """(path, default, accepts) for every key, recursing into sub-sections."""
    for key, validator in fields.items():
        name = str(getattr(key, "schema", key))
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(validator, Section):
            yield path, "", "mapping"
            yield from rows(validator.fields, path)
        else:
            yield path, _default(key), describe(validator)


def _table(lines: list[str], entries: Iterator[tuple[str, str, str]],
           comments: Mapping[str, str], comment_prefix: str = "") -> None:
    lines.append("| key | default | accepts | meaning |")
    lines.append("| --- | --- | --- | --- |")
    for path, default, accepts in entries:
        meaning = comments.get(comment_prefix + path, "")
        cells = [f"`{path}`", f"`{default}`" if default else "", accepts, meaning]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


_LOADING = [
    "## Loading and reloading",
    "",
    f"A config file is at most {files.MAX_FILE_BYTES // 1048576} MiB of UTF-8 text, nested at "
    f"most {files.MAX_DEPTH} levels deep, and holds at most {files.MAX_VALUES:,} values once "
    "YAML aliases (`*name`) are expanded; a file beyond a limit is refused with an error "
    "saying which. Numbers that reach ffmpeg, pools and timers have ranges (the `accepts` "
    "column); a value outside one is an error naming its key, in a channel's `ffmpeg:` "
    "overrides too.",
    "",
    "Edits are picked up while the server runs, once the file has stopped changing. An edit "
    "is applied only when the whole file is valid; otherwise the running config stays and "
    "the error is logged, shown by `GET /api/config/status` and published as a `config` "
    "event. Besides invalid keys and values, these edits are refused: an empty or "
    "comments-only file, a deleted or unreadable file, one that drops the `server` "
    "section, and one that removes `server.api_token` from a server that requires it. To "
    "run without a token on purpose, remove `api_token` and set `server.auth_disabled: "
    "true` in the same edit. A server started without a token (and without "
    "`auth_disabled`) is open, as before.",
]


def generate(registry: Any = None) -> str:
    """The whole reference as Markdown."""
    comments = example_comments()
    lines = ["# Configuration reference", "",
             "Generated from the schemas by `python -m exstreamtv.config.reference`; "
             "do not edit by hand. See `config/exstreamtv.yaml` for a commented example.", "",
             *_LOADING, ""]
    for name, validator in schema.CORE_SECTIONS.items():
        lines += [f"## {name}", ""]
        if name == "sources":
            lines.append("A list; each source has `id` (letters, digits, `_ . -`) and `type`, "
                         "plus the options of its type (below).")
        elif name == "profiles":
            lines.append("A mapping of profile name (letters, digits, `_ . -`) to any keys of the "
                         "`ffmpeg` section (below); a channel's `profile: NAME` applies one "
                         "between the `ffmpeg` defaults and the channel's own `ffmpeg:` overrides.")
        elif name == "channels":
            _table(lines, rows(schema.CHANNEL.fields, ""), comments, "channels.")
            lines.append("")
            lines.append("`schedule` takes `type` plus the options of that schedule type "
                         "(below); `ffmpeg` takes any key of the `ffmpeg` section.")
            lines += ["", "### Keys every schedule type takes: breaks, filler lists, clock (`schedule.*`)", ""]
            _table(lines, rows({**BREAK_SCHEMA.schema, **{
                vol.Optional(f"fillers[].{k.schema}", default=getattr(k, "default", vol.UNDEFINED)):
                v for k, v in FILLER_LIST.schema.items()}}, ""), MEANINGS)
        elif name == "collections":
            lines.append("A list of playlists and smart collections, usable wherever a "
                         "`collection:` is. Each has a `name` (not a source id) and either "
                         "`items` (a playlist: entries in order, each a query) or `query` "
                         "(every library item that matches). Query keys:")
            lines.append("")
            _table(lines, rows(QUERY_KEYS, ""), QUERY_MEANINGS)
        elif name == "ffmpeg":
            _table(lines, rows(validator.fields, ""), comments, "ffmpeg.")
        else:
            _table(lines, rows(validator.fields, ""), comments, f"{name}.")
        lines.append("")
    if registry is not None:
        titles = {"source": "Source types (`sources[].type`)",
                  "scheduler": "Schedule types (`channels[].schedule.type`)",
                  "encoder": "Encoders (`ffmpeg.encoder`, options in `ffmpeg.encoder_options`)"}
        for kind, title in titles.items():
            lines += [f"## {title}", ""]
            for type_name in registry.types(kind):
                comp = registry.get(kind, type_name)
                lines += [f"### `{type_name}`", "", comp.description or "", ""]
                fields = comp.schema.schema if isinstance(comp.schema.schema, Mapping) else {}
                if fields:
                    _table(lines, rows(fields, ""), {})
                else:
                    lines.append("No options.")
                lines.append("")
        for section, (section_schema, plugin) in sorted(registry.sections.items()):
            lines += [f"## {section} (from plugin {plugin})", ""]
            fields = getattr(section_schema, "schema", {})
            inner = fields.fields if isinstance(fields, Section) else fields
            if isinstance(inner, Mapping):
                _table(lines, rows(inner, ""), comments, f"{section}.")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    from exstreamtv.plugins import PluginHost
    from exstreamtv.registry import collect_registry

    host = PluginHost()
    host.load_plugins(entrypoints=False)
    sys.stdout.write(generate(collect_registry(host)))


if __name__ == "__main__":
    main()
