"""Config validation: defaults from the spec, path-named errors, ${ENV}, the example file."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from exstreamtv.config import (
    AIAutoHealConfig,
    DatabaseBackupConfig,
    SessionManagerConfig,
    StreamThrottlerConfig,
    validate_config,
)
from exstreamtv.errors import ConfigError
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import collect_registry

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def registry():
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    return collect_registry(host)


def problems(raw, registry):
    with pytest.raises(ConfigError) as info:
        validate_config(raw, registry)
    return [str(p) for p in info.value.problems]


def test_spec_defaults_exactly(registry):
    config = validate_config({}, registry)
    assert config.ai_auto_heal == AIAutoHealConfig(
        enabled=True, log_buffer_minutes=30, realtime_streaming=True,
        ffmpeg_monitor_enabled=True, ffmpeg_health_threshold=0.8,
        pattern_detection_enabled=True, prediction_confidence_threshold=0.75,
        auto_resolve_enabled=True, max_auto_fixes_per_hour=50,
        require_approval_above_risk="MEDIUM", use_error_screen_fallback=True,
        hot_swap_enabled=True, learning_enabled=True,
    )
    assert config.database_backup == DatabaseBackupConfig(True, "backups", 24, 7, 30, True)
    assert config.session_manager == SessionManagerConfig(50, 300, 60)
    assert config.stream_throttler == StreamThrottlerConfig(True, 4000000, "realtime")
    assert config.server.port == 8409 and config.server.host == "127.0.0.1"
    assert config.database.url == "sqlite+aiosqlite:///data/exstreamtv.db"
    assert config.ffmpeg.audio.languages == ("eng",)
    assert config.mqtt.discovery_prefix == "homeassistant" and config.mqtt.base_topic == "exstreamtv"


def test_errors_name_the_path_and_what_is_allowed(registry):
    raw = {
        "server": {"prot": 1},
        "sources": [{"id": "m", "type": "local", "path": "/x"}],
        "channels": [
            {"number": 1, "name": "A", "schedule": {"type": "ordered", "collection": "m"}},
            {"number": 2, "name": "B", "schedule": {"type": "timeslots", "collection": "m"}},
            {"number": 1, "name": "C", "schedule": {"type": "ordered", "collection": "nope"}},
        ],
        "stream_throttler": {"mode": "turbo"},
    }
    found = problems(raw, registry)
    assert any(p.startswith("server.prot: unknown key 'prot' (allowed:") and "port" in p
               for p in found), found
    assert any(p.startswith("channels[1].schedule.type: unknown scheduler type 'timeslots'")
               and "ordered" in p for p in found), found
    assert "channels[2].number: channel number 1 is used twice" in found
    assert any(p.startswith("channels[2].schedule.collection: unknown collection 'nope'")
               for p in found), found
    assert any(p.startswith("stream_throttler.mode: expected one of realtime, burst") for p in found)


def test_plugin_option_typo_fails_at_load(registry):
    raw = {"sources": [{"id": "m", "type": "local", "pth": "/x"}]}
    found = problems(raw, registry)
    assert any(p.startswith("sources[0].pth") for p in found), found
    assert any(p.startswith("sources[0].path: required key") for p in found), found


def test_encoder_options_are_checked_at_load(registry):
    def channel_with(ffmpeg):
        return {"sources": [{"id": "m", "type": "local", "path": "/x"}],
                "channels": [{"number": 1, "name": "A", "ffmpeg": ffmpeg,
                              "schedule": {"type": "ordered", "collection": "m"}}]}

    found = problems(channel_with({"encoder": "vaapi", "encoder_options": {"devcie": "/dev/dri/x"}}),
                     registry)
    assert any(p.startswith("channels[0].ffmpeg.encoder_options.devcie: unknown encoder option "
                            "'devcie' (known: device (nvenc/vaapi/qsv/videotoolbox)") for p in found), found
    found = problems(channel_with({"encoder_options": {"preset": "turbo"}}), registry)
    assert any(p.startswith("channels[0].ffmpeg.encoder_options.preset: value must be one of")
               and p.endswith("for encoder software") for p in found), found
    found = problems(channel_with({"encoder": "nvenc", "encoder_options": {"hwaccel_decode": "yes"}}),
                     registry)
    assert any("encoder_options.hwaccel_decode" in p for p in found), found
    # Options of another encoder are kept for a fallback (hardware -> software) or auto.
    config = validate_config(channel_with({"encoder": "auto", "encoder_options": {
        "device": "/dev/dri/renderD129", "preset": "fast"}}), registry)
    assert config.channels[0].ffmpeg.encoder_options == {"device": "/dev/dri/renderD129",
                                                          "preset": "fast"}


def test_channel_ffmpeg_overrides_merge_with_defaults(registry):
    raw = {
        "ffmpeg": {"video": {"width": 640, "height": 360}},
        "sources": [{"id": "m", "type": "local", "path": "/x"}],
        "channels": [{"number": 1, "name": "A", "schedule": {"type": "ordered", "collection": "m"},
                      "ffmpeg": {"audio": {"languages": ["fre", "eng"]}}}],
    }
    channel = validate_config(raw, registry).channels[0]
    assert channel.ffmpeg.audio.languages == ("fre", "eng")
    assert channel.ffmpeg.video.width == 640 and channel.ffmpeg.video.fps == 30


def test_env_substitution_and_missing_variable(registry, monkeypatch):
    monkeypatch.setenv("EXS_TOKEN", "s3cret")
    config = validate_config({"server": {"api_token": "${EXS_TOKEN}"}}, registry)
    assert config.server.api_token == "s3cret"
    monkeypatch.delenv("EXS_TOKEN")
    found = problems({"server": {"api_token": "${EXS_TOKEN}"}}, registry)
    assert found == ["server.api_token: environment variable EXS_TOKEN is not set "
                     "(export it or edit the value)"]


def test_unknown_section_lists_known_ones(registry):
    found = problems({"servr": {}}, registry)
    assert found[0].startswith("servr: unknown section (allowed: server, database")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "exstreamtv", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


def test_example_config_passes_config_check():
    result = run_cli("config", "check", str(ROOT / "config" / "exstreamtv.yaml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_config_check_reports_each_problem_with_exit_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels:\n  - number: 0\n    name: X\n    schedule: {type: ordered}\n")
    result = run_cli("config", "check", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any("channels[0].number: expected a positive integer" in ln for ln in lines), lines
    assert any("channels[0].schedule.collection: required key is missing" in ln for ln in lines)


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: [8409\n")
    result = run_cli("config", "check", str(bad))
    assert result.returncode == 1
    assert "YAML syntax error at line" in result.stderr


def test_serve_with_bad_config_exits_1_with_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {port: -1}\n")
    result = run_cli("serve", "--config", str(bad))
    assert result.returncode == 1
    assert "server.port" in result.stderr


def test_missing_config_file_is_a_user_error(tmp_path):
    result = run_cli("config", "check", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr


# Bounds: every number that reaches ffmpeg, a pool or a timer has a range, checked at load.
OUT_OF_RANGE = [
    ("ffmpeg.video.bitrate_kbps", {"ffmpeg": {"video": {"bitrate_kbps": 10**30}}}),
    ("ffmpeg.video.bitrate_kbps", {"ffmpeg": {"video": {"bitrate_kbps": 1e30}}}),
    ("ffmpeg.video.width", {"ffmpeg": {"video": {"width": 100_000}}}),
    ("ffmpeg.video.height", {"ffmpeg": {"video": {"height": 0}}}),
    ("ffmpeg.video.fps", {"ffmpeg": {"video": {"fps": 1000}}}),
    ("ffmpeg.video.keyframe_seconds", {"ffmpeg": {"video": {"keyframe_seconds": float("inf")}}}),
    ("ffmpeg.audio.bitrate_kbps", {"ffmpeg": {"audio": {"bitrate_kbps": 10**9}}}),
    ("ffmpeg.audio.channels", {"ffmpeg": {"audio": {"channels": 64}}}),
    ("server.tuner_count", {"server": {"tuner_count": 10**6}}),
    ("session_manager.max_sessions_per_channel",
     {"session_manager": {"max_sessions_per_channel": 10**9}}),
    ("session_manager.idle_timeout_seconds", {"session_manager": {"idle_timeout_seconds": 10**12}}),
    ("session_manager.cleanup_interval_seconds",
     {"session_manager": {"cleanup_interval_seconds": 10**12}}),
    ("stream_throttler.target_bitrate_bps", {"stream_throttler": {"target_bitrate_bps": 10**20}}),
    ("database_backup.interval_hours", {"database_backup": {"interval_hours": 10**9}}),
    ("database_backup.keep_count", {"database_backup": {"keep_count": 10**9}}),
    ("ai_auto_heal.log_buffer_minutes", {"ai_auto_heal": {"log_buffer_minutes": 10**9}}),
    ("ai_auto_heal.max_auto_fixes_per_hour", {"ai_auto_heal": {"max_auto_fixes_per_hour": -1}}),
    ("ai_auto_heal.ffmpeg_health_threshold",
     {"ai_auto_heal": {"ffmpeg_health_threshold": float("nan")}}),
    ("streaming.buffer_seconds", {"streaming": {"buffer_seconds": float("inf")}}),
    ("mqtt.port", {"mqtt": {"port": 70000}}),
    ("sources[0].scan_interval_minutes",
     {"sources": [{"id": "m", "type": "local", "path": "/x", "scan_interval_minutes": 1e30}]}),
    ("sources[0].timeout", {"sources": [{"id": "p", "type": "plex", "url": "http://p",
                                         "token": "t", "timeout": float("inf")}]}),
]


@pytest.mark.parametrize(("path", "raw"), OUT_OF_RANGE, ids=[p for p, _ in OUT_OF_RANGE])
def test_absurd_numbers_are_refused_with_the_key_path(registry, path, raw):
    found = problems(raw, registry)
    assert any(p.startswith(f"{path}: ") for p in found), found


def test_bitrate_bounds_apply_to_channel_overrides_too(registry):
    raw = {"sources": [{"id": "m", "type": "local", "path": "/x"}],
           "channels": [{"number": 1, "name": "A",
                         "schedule": {"type": "ordered", "collection": "m"},
                         "ffmpeg": {"video": {"bitrate_kbps": "1e30"}}}]}
    assert problems(raw, registry) == [
        "channels[0].ffmpeg.video.bitrate_kbps: expected an integer from 50 to 100,000 kbit/s, "
        "got '1e30'"]


def test_auth_disabled_with_a_token_is_contradictory(registry):
    found = problems({"server": {"api_token": "t", "auth_disabled": True}}, registry)
    assert found[0].startswith("server.auth_disabled: true, but server.api_token is set too")
    assert validate_config({"server": {"auth_disabled": True}}, registry).server.auth_disabled


def test_hostile_files_are_clear_config_errors(tmp_path):
    from exstreamtv.config.files import read_config_file

    cases = {
        "empty.yaml": (b"", "empty or holds only comments"),
        "comments.yaml": (b"# server:\n#  api_token: x\n", "empty or holds only comments"),
        "latin1.yaml": (b"server: {name: caf\xe9}\n", "not UTF-8 text (byte 0xe9 at line 1, offset 18)"),
        "nul.yaml": (b"server: {name: \x00}\n", "unacceptable character"),
        "list.yaml": (b"- 1\n", "must be a YAML mapping"),
        "deep.yaml": (b"[" * 20_000 + b"]" * 20_000, "nesting deeper than 64 levels"),
        "self.yaml": (b"a: &a [1, *a]\n", "an alias refers to a mapping or list that contains it"),
        "big.yaml": (b"# padding\n" * 430_000, "over the 4 MiB limit"),
    }
    for name, (content, expected) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ConfigError) as info:
            read_config_file(tmp_path / name)
        assert expected in str(info.value), (name, str(info.value))
    (tmp_path / "folder.yaml").mkdir()
    os.mkfifo(tmp_path / "fifo.yaml")  # reading must not wait for a writer
    for name in ("folder.yaml", "fifo.yaml"):
        with pytest.raises(ConfigError, match="not a regular file"):
            read_config_file(tmp_path / name)


def test_alias_bomb_fails_fast_in_little_memory(tmp_path):
    from exstreamtv.config.files import read_config_file

    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for name, previous in zip("bcdefghi", "abcdefgh", strict=True):
        bomb += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    assert len(bomb) < 400
    (tmp_path / "bomb.yaml").write_text(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="more than 1,000,000 values once aliases"):
            read_config_file(tmp_path / "bomb.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, peak
    result = run_cli("config", "check", str(tmp_path / "bomb.yaml"))
    assert result.returncode == 1 and "aliases" in result.stderr
