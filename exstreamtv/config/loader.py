"""Read a YAML config, substitute ``${ENV}``, validate it, and build the typed model.

Every problem found is reported at once, each with the path of the bad key, e.g.
``channels[2].schedule.slots[0].start_time: expected a time as "HH:MM"``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from exstreamtv.config import model, profiles, schema
from exstreamtv.config.files import parse_yaml, read_config_file
from exstreamtv.errors import ConfigError, ConfigProblem
from exstreamtv.media.collections import CollectionDefinition, validate_collections
from exstreamtv.scheduling.breaks import BREAK_KEYS, validate_break_options
from exstreamtv.secrets import is_secret_name, register_env, register_secret

if TYPE_CHECKING:
    from exstreamtv.registry import Registry

__all__ = ["deep_merge", "format_path", "load_config", "parse_yaml", "plugin_settings",
           "read_config_file", "substitute_env", "validate_config"]

log = logging.getLogger(__name__)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def format_path(path: list[Any]) -> str:
    """``['channels', 2, 'schedule']`` -> ``channels[2].schedule``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(exc: vol.Invalid, prefix: list[Any]) -> list[ConfigProblem]:
    errors = exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc]
    out = []
    for err in errors:
        message = err.msg
        if message == "extra keys not allowed":
            message = "unknown key"
        elif message == "required key not provided":
            message = "required key is missing"
        out.append(ConfigProblem(format_path(prefix + list(err.path)), message))
    return out


def substitute_env(value: Any, path: list[Any], problems: list[ConfigProblem]) -> Any:
    """Replace ``${VAR}`` in every string; an unset variable is a problem.

    Values under secret-named keys and of secret-named variables are registered with
    :mod:`exstreamtv.secrets`, so they are masked from the moment they are read.
    """
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                problems.append(
                    ConfigProblem(
                        format_path(path),
                        f"environment variable {name} is not set (export it or edit the value)",
                    )
                )
                return match.group(0)
            register_env(name, os.environ[name])
            return os.environ[name]

        result = _ENV.sub(repl, value)
        if path and is_secret_name(path[-1]):
            register_secret(result)  # masked even when this config is rejected
        return result
    if isinstance(value, list):
        return [substitute_env(v, [*path, i], problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: substitute_env(v, [*path, k], problems) for k, v in value.items()}
    return value


def plugin_settings(raw: Mapping[str, Any]) -> model.PluginsConfig:
    """The ``plugins`` section alone, needed before plugins can validate the rest."""
    try:
        section = schema.PLUGINS(raw.get("plugins"))
    except vol.Invalid:
        return model.PluginsConfig()
    return model.PluginsConfig(tuple(section["directories"]), tuple(section["disabled"]))


def load_config(path: str | Path, registry: Registry | None = None) -> model.Config:
    """Load and validate the config file at ``path``."""
    path = Path(path)
    return validate_config(read_config_file(path), registry, path=path)


def validate_config(
    raw: Mapping[str, Any], registry: Registry | None = None, *, path: Path | None = None
) -> model.Config:
    """Validate a parsed config mapping; raises ConfigError listing every problem."""
    source = str(path) if path else ""
    problems: list[ConfigProblem] = []
    data = substitute_env(dict(raw), [], problems)
    plugin_sections = registry.sections if registry else {}
    allowed = [*schema.CORE_SECTIONS, *plugin_sections]
    sections: dict[str, Any] = {}
    for key in data:
        if key not in allowed:
            problems.append(
                ConfigProblem(str(key), f"unknown section (allowed: {', '.join(allowed)})")
            )
    for name, validator in schema.CORE_SECTIONS.items():
        if validator is None:
            continue
        try:
            sections[name] = validator(data.get(name))
        except vol.Invalid as exc:
            problems += _problems(exc, [name])
    extra: dict[str, Any] = {}
    for name, (section_schema, _plugin) in plugin_sections.items():
        try:
            extra[name] = section_schema(data.get(name) or {})
        except vol.Invalid as exc:
            problems += _problems(exc, [name])

    sources = _validate_sources(data.get("sources"), registry, problems)
    named = profiles.validate_profiles(data.get("profiles"), problems, _problems)
    indexed = _validate_channels(data.get("channels"), sections.get("ffmpeg"), named, registry,
                                 problems)
    try:
        collections = validate_collections(data.get("collections"))
    except vol.Invalid as exc:
        problems += _problems(exc, ["collections"])
        collections = ()
    problems += _collection_problems(collections, sources)
    _check_references(sources, indexed, registry, problems, collections)
    problems += _auth_problems(sections.get("server"))
    if problems:
        raise ConfigError(problems, source)
    config = _build(sections, sources, [c for _, c in indexed], extra, path)
    for warning in profiles.throttle_warnings(config):
        log.warning("Config: %s", warning)
    return replace(config, sections=frozenset(str(k) for k in data), profiles=named,
                   collections=collections)


def _collection_problems(collections: tuple[CollectionDefinition, ...],
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


def _auth_problems(server: Mapping[str, Any] | None) -> list[ConfigProblem]:
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


def _component_options(
    kind: str, envelope: dict[str, Any], skip: tuple[str, ...], registry: Registry | None,
    where: list[Any], problems: list[ConfigProblem],
) -> dict[str, Any] | None:
    options = {k: v for k, v in envelope.items() if k not in skip}
    breaks: dict[str, Any] = {}
    if kind == "scheduler":
        # Filler lists, breaks and padding: keys every schedule type takes.
        try:
            breaks = validate_break_options(options)
        except vol.Invalid as exc:
            problems.extend(_problems(exc, where))
            return None
        options = {k: v for k, v in options.items() if k not in BREAK_KEYS}
    if registry is None:
        return {**options, **breaks}
    try:
        component = registry.get(kind, envelope["type"])
    except KeyError as exc:
        problems.append(ConfigProblem(format_path([*where, "type"]), str(exc.args[0])))
        return None
    try:
        validated: dict[str, Any] = component.schema(options)
    except vol.Invalid as exc:
        problems.extend(_problems(exc, where))
        return None
    return {**validated, **breaks}


def _validate_sources(
    value: Any, registry: Registry | None, problems: list[ConfigProblem]
) -> list[model.SourceConfig]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(ConfigProblem("sources", "expected a list of sources"))
        return []
    out: list[model.SourceConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where: list[Any] = ["sources", i]
        try:
            envelope = schema.SOURCE_ENVELOPE(item)
        except vol.Invalid as exc:
            problems += _problems(exc, where)
            continue
        if envelope["id"] in seen:
            problems.append(
                ConfigProblem(format_path([*where, "id"]), f"duplicate source id '{envelope['id']}'")
            )
        seen.add(envelope["id"])
        options = _component_options("source", envelope, ("id", "type"), registry, where, problems)
        if options is not None:
            out.append(model.SourceConfig(envelope["id"], envelope["type"], options))
    return out


def _validate_channels(
    value: Any, ffmpeg_defaults: dict[str, Any] | None, named: Mapping[str, Mapping[str, Any]],
    registry: Registry | None, problems: list[ConfigProblem],
) -> list[tuple[int, model.ChannelConfig]]:
    """Valid channels with their index in the file (for error paths)."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(ConfigProblem("channels", "expected a list of channels"))
        return []
    out: list[tuple[int, model.ChannelConfig]] = []
    numbers: set[int] = set()
    full_ffmpeg = schema.ffmpeg_section(with_defaults=True)
    for i, item in enumerate(value):
        where: list[Any] = ["channels", i]
        try:
            channel = schema.CHANNEL(item)
        except vol.Invalid as exc:
            problems += _problems(exc, where)
            schedule_raw = item.get("schedule") if isinstance(item, dict) else None
            if isinstance(schedule_raw, dict) and isinstance(schedule_raw.get("type"), str):
                _component_options("scheduler", schedule_raw, ("type",), registry,
                                   [*where, "schedule"], problems)
            continue
        if channel["number"] in numbers:
            problems.append(
                ConfigProblem(
                    format_path([*where, "number"]),
                    f"channel number {channel['number']} is used twice",
                )
            )
        numbers.add(channel["number"])
        schedule_type, options = _channel_schedule(channel, where, registry, problems)
        base = profiles.profile_base(channel, ffmpeg_defaults or {}, named, format_path(where),
                                     problems, deep_merge)
        merged = deep_merge(base, channel.get("ffmpeg") or {})
        try:
            ffmpeg = full_ffmpeg(merged)
        except vol.Invalid as exc:
            problems += _problems(exc, [*where, "ffmpeg"])
            continue
        if options is None:
            continue
        built = model.ChannelConfig(
            number=channel["number"],
            name=channel["name"],
            schedule=model.ScheduleConfig(schedule_type, options),
            ffmpeg=_ffmpeg_model(ffmpeg),
            mirror_of=channel["mirror_of"],
            offset_minutes=float(channel["offset_minutes"]),
            output=model.ChannelOutput(channel["output"]),
            logo=channel["logo"],
            profile=channel["profile"],
            group=channel["group"],
            enabled=channel["enabled"],
        )
        problems += profiles.audio_problems(built, format_path(where))
        out.append((i, built))
    problems += _mirror_problems(out)
    return out


#: The schedule type of a mirror channel (not a plugin: the channel manager builds it).
MIRROR = "mirror"


def _channel_schedule(channel: dict[str, Any], where: list[Any], registry: Registry | None,
                      problems: list[ConfigProblem]) -> tuple[str, dict[str, Any] | None]:
    """The schedule type and options of a channel; a mirror has the type ``mirror``."""
    if channel["mirror_of"] is not None:
        if "schedule" in channel:
            problems.append(ConfigProblem(format_path([*where, "schedule"]),
                                          "a mirror channel (mirror_of) plays its source's "
                                          "schedule: remove schedule or mirror_of"))
            return MIRROR, None
        return MIRROR, {"mirror_of": channel["mirror_of"],
                        "offset_minutes": channel["offset_minutes"]}
    if "schedule" not in channel:
        problems.append(ConfigProblem(format_path([*where, "schedule"]),
                                      "required key not provided (give a schedule, or "
                                      "mirror_of: <channel number> for a mirror)"))
        return "", None
    return str(channel["schedule"]["type"]), _component_options(
        "scheduler", channel["schedule"], ("type",), registry, [*where, "schedule"], problems)


def _mirror_problems(channels: list[tuple[int, model.ChannelConfig]]) -> list[ConfigProblem]:
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


def _check_references(
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
            problems += _encoder_option_problems(channel.ffmpeg.encoder_options, registry,
                                                 f"channels[{i}].ffmpeg.encoder_options")


def _encoder_option_problems(options: Mapping[str, Any], registry: Registry,
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


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``override`` merged in, recursively for mappings."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _ffmpeg_model(d: Mapping[str, Any]) -> model.FFmpegConfig:
    audio = dict(d["audio"])
    audio["languages"] = tuple(audio["languages"])
    subtitles = dict(d["subtitles"])
    subtitles["languages"] = tuple(subtitles["languages"])
    return model.FFmpegConfig(
        ffmpeg_path=d["ffmpeg_path"],
        ffprobe_path=d["ffprobe_path"],
        encoder=d["encoder"],
        encoder_options=dict(d["encoder_options"]),
        copy=d["copy"],
        video=model.VideoProfile(**d["video"]),
        audio=model.AudioConfig(**audio),
        subtitles=model.SubtitleConfig(**subtitles),
        watermark=model.WatermarkConfig(**d["watermark"]),
        now_next=model.NowNextConfig(**d["now_next"]),
        error_screen=model.ErrorScreenConfig(**d["error_screen"]),
    )


def _build(
    s: dict[str, Any], sources: list[model.SourceConfig], channels: list[model.ChannelConfig],
    extra: dict[str, Any], path: Path | None,
) -> model.Config:
    mqtt = dict(s["mqtt"])
    server = dict(s["server"])
    server["tokens"] = tuple(model.NamedToken(t["name"], t["token"], model.Role(t["role"]))
                             for t in server["tokens"])
    return model.Config(
        server=model.ServerConfig(**server),
        database=model.DatabaseConfig(**s["database"]),
        ffmpeg=_ffmpeg_model(s["ffmpeg"]),
        sources=tuple(sources),
        channels=tuple(sorted(channels, key=lambda c: c.number)),
        mqtt=model.MqttConfig(**mqtt),
        session_manager=model.SessionManagerConfig(**s["session_manager"]),
        rate_limit=model.RateLimitConfig(**s["rate_limit"]),
        stream_throttler=model.StreamThrottlerConfig(**s["stream_throttler"]),
        database_backup=model.DatabaseBackupConfig(**s["database_backup"]),
        ai_auto_heal=model.AIAutoHealConfig(**s["ai_auto_heal"]),
        streaming=model.StreamingConfig(**s["streaming"]),
        guide=model.GuideConfig(**s["guide"]),
        cluster=model.ClusterConfig(**s["cluster"]),
        plugins=model.PluginsConfig(
            tuple(s["plugins"]["directories"]), tuple(s["plugins"]["disabled"])
        ),
        extra=extra,
        path=path,
    )
