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
from exstreamtv.config.references import (
    auth_problems,
    check_references,
    collection_problems,
    format_path,
    mirror_problems,
)
from exstreamtv.errors import ConfigError, ConfigProblem
from exstreamtv.media.collections import validate_collections
from exstreamtv.scheduling.breaks import BREAK_KEYS, validate_break_options
from exstreamtv.secrets import is_secret_name, register_env, register_secret

if TYPE_CHECKING:
    from exstreamtv.registry import Registry

__all__ = ["deep_merge", "format_path", "load_config", "parse_yaml", "plugin_settings",
           "read_config_file", "substitute_env", "validate_config"]

log = logging.getLogger(__name__)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
    problems += collection_problems(collections, sources)
    check_references(sources, indexed, registry, problems, collections)
    problems += auth_problems(sections.get("server"))
    if problems:
        raise ConfigError(problems, source)
    config = _build(sections, sources, [c for _, c in indexed], extra, path)
    for warning in profiles.throttle_warnings(config):
        log.warning("Config: %s", warning)
    return replace(config, sections=frozenset(str(k) for k in data), profiles=named,
                   collections=collections)


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
    problems += mirror_problems(out)
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
