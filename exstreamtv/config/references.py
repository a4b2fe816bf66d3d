"""Checks across the sections of a config, after each section is valid on its own: every
``collection:`` a schedule names exists, mirrors point at real channels without cycles,
collections and sources do not share names, tokens are not contradictory, and each
channel's encoder, pickers, error screen and encoder options are registered ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from exstreamtv.config import model, profiles
from exstreamtv.errors import ConfigProblem
from exstreamtv.media.collections import CollectionDefinition

if TYPE_CHECKING:
    from exstreamtv.registry import Registry


def format_path(path: list[Any]) -> str:
    """``['channels', 2, 'schedule']`` -> ``channels[2].schedule``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def collection_problems(collections: tuple[CollectionDefinition, ...],
                         sources: list[model.SourceConfig]) -> list[ConfigProblem]:
    """A collection named like a source, or naming a source that does not exist."""
    ids = {s.id for s in sources}
    problems = []
    for i, definition in enumerate(collections):
        if definition.name in ids:
            problems.append(ConfigProblem(f"collections[{i}].name",
                                          f"'{definition.name}' is already a source id: choose "
                                          "another name"))
        for missing in sorted(definition.sources - ids):
            problems.append(ConfigProblem(f"collections[{i}]",
                                          f"unknown source '{missing}' (known: "
                                          f"{', '.join(sorted(ids)) or 'none'})"))
    return problems


def auth_problems(server: Mapping[str, Any] | None) -> list[ConfigProblem]:
    """``auth_disabled: true`` together with a token is contradictory: say which to drop;
    two named tokens may not share a name or a token (changes are recorded by name)."""
    if not server:
        return []
    problems = []
    which = "api_token" if server.get("api_token") else "tokens" if server.get("tokens") else ""
    if server.get("auth_disabled") and which:
        problems.append(ConfigProblem(
            "server.auth_disabled", f"true, but server.{which} is set too: remove {which} to "
                                    "run without authentication, or remove auth_disabled"))
    names: set[str] = set()
    values = {server.get("api_token")}
    for i, entry in enumerate(server.get("tokens") or []):
        if entry["name"] in names:
            problems.append(ConfigProblem(f"server.tokens[{i}].name",
                                          f"the name '{entry['name']}' is used twice"))
        if entry["token"] in values:
            problems.append(ConfigProblem(f"server.tokens[{i}].token",
                                          "this token is already used by another entry (or "
                                          "api_token); give each one its own"))
        names.add(entry["name"])
        values.add(entry["token"])
    return problems


def mirror_problems(channels: list[tuple[int, model.ChannelConfig]]) -> list[ConfigProblem]:
    """Mirrors of themselves, of missing channels, and cycles of mirrors."""
    by_number = {c.number: c for _, c in channels}
    problems = []
    for i, channel in channels:
        if channel.mirror_of is None:
            continue
        where = f"channels[{i}].mirror_of"
        if channel.mirror_of == channel.number:
            problems.append(ConfigProblem(where, f"channel {channel.number} cannot mirror "
                                                 "itself"))
            continue
        if channel.mirror_of not in by_number:
            problems.append(ConfigProblem(where, f"there is no channel {channel.mirror_of} "
                                                 f"(known: {', '.join(map(str, sorted(by_number)))})"))
            continue
        seen = [channel.number]
        current: model.ChannelConfig | None = by_number[channel.mirror_of]
        while current is not None and current.mirror_of is not None:
            seen.append(current.number)
            if current.mirror_of in seen:
                chain = " -> ".join(map(str, [*seen, current.mirror_of]))
                problems.append(ConfigProblem(where, f"mirrors form a cycle ({chain})"))
                break
            current = by_number.get(current.mirror_of)
    return problems


def collection_references(value: Any, path: list[Any]) -> list[tuple[list[Any], str]]:
    """Every ``collection:`` value inside a schedule's options, with its path."""
    found: list[tuple[list[Any], str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("collection", "filler") and isinstance(item, str):
                found.append(([*path, key], item))
            else:
                found += collection_references(item, [*path, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += collection_references(item, [*path, i])
    return found


def check_references(
    sources: list[model.SourceConfig], channels: list[tuple[int, model.ChannelConfig]],
    registry: Registry | None, problems: list[ConfigProblem],
    collections: tuple[CollectionDefinition, ...] = (),
) -> None:
    known = {s.id for s in sources} | {c.name for c in collections}
    source_ids = set(known)
    for s in sources:
        for name in s.options.get("collections", {}) or {}:
            known.add(str(name))
    for i, channel in channels:
        refs = collection_references(dict(channel.schedule.options), ["channels", i, "schedule"])
        for path, name in refs:
            # "<source id>:<kind>:<name>" names a collection a source builds while scanning
            # (a Plex show, a Jellyfin genre); only the source id can be checked here.
            prefix = name.partition(":")[0]
            if name not in known and not (":" in name and prefix in source_ids):
                problems.append(
                    ConfigProblem(
                        format_path(path),
                        f"unknown collection '{name}' (known: {', '.join(sorted(known)) or 'none'})",
                    )
                )
        if registry is not None:
            for kind, value, key in (
                ("encoder", channel.ffmpeg.encoder, "encoder"),
                ("audio_picker", channel.ffmpeg.audio.picker, "audio.picker"),
                ("subtitle_picker", channel.ffmpeg.subtitles.picker, "subtitles.picker"),
                ("error_screen", channel.ffmpeg.error_screen.visual, "error_screen.visual"),
                ("error_audio", channel.ffmpeg.error_screen.audio, "error_screen.audio"),
            ):
                if value == "auto" and kind == "encoder":
                    continue
                if kind == "encoder" and value in registry.components[kind]:
                    problems += profiles.encoder_problems(
                        channel, registry.get(kind, value), f"channels[{i}]")
                if registry.components[kind] and value not in registry.components[kind]:
                    known_types = ", ".join(registry.types(kind))
                    problems.append(
                        ConfigProblem(
                            f"channels[{i}].ffmpeg.{key}",
                            f"unknown {kind.replace('_', ' ')} '{value}' (known: {known_types})",
                        )
                    )
            problems += encoder_option_problems(channel.ffmpeg.encoder_options, registry,
                                                 f"channels[{i}].ffmpeg.encoder_options")


def encoder_option_problems(options: Mapping[str, Any], registry: Registry,
                             where: str) -> list[ConfigProblem]:
    """Each of ``options`` must be an option of some registered encoder, with a value that
    encoder accepts. Options of other encoders are allowed (and ignored) so that a channel
    can fall back from hardware to software, or let ``auto`` choose."""
    declared: dict[str, list[Any]] = {}
    for component in registry.components["encoder"].values():
        for marker in component.schema.schema:
            declared.setdefault(str(marker), []).append(component)
    out = []
    for name, value in options.items():
        owners = declared.get(name)
        if not owners:
            known = ", ".join(f"{k} ({'/'.join(c.type for c in cs)})"
                              for k, cs in sorted(declared.items())) or "none"
            out.append(ConfigProblem(f"{where}.{name}",
                                     f"unknown encoder option '{name}' (known: {known})"))
            continue
        for component in owners:
            try:
                vol.Schema(component.schema.schema, extra=vol.ALLOW_EXTRA)({name: value})
            except vol.Invalid as exc:
                out.append(ConfigProblem(f"{where}.{name}",
                                         f"{exc.msg} for encoder {component.type}"))
                break
    return out
