"""Channel edits rewrite only the lines they change: comments, quoting, anchors, ${ENV}
and untouched sections stay byte for byte, and the file reads back as intended."""

from __future__ import annotations

import difflib

import pytest
import yaml

from exstreamtv.config.roundtrip import (
    ChannelEdit,
    EditKind,
    channels_of,
    edit_channels,
    revision,
)
from exstreamtv.errors import ConfigError

TEXT = """\
# ExStreamTV config, kept in git
server:
  api_token: ${EXSTREAMTV_TOKEN}   # never resolved by the editor
  port: 8409
defaults: &small
  video: {width: 640, height: 360}
sources:
  - id: clips
    type: local
    path: '/media/it''s here'
channels:
  # the first channel
  - number: 1
    name: "One"   # keep me
    schedule:
      type: ordered
      collection: clips
    ffmpeg: *small
  - number: 2
    name: "Two\tTabbed"
    enabled: yes
    logo: >-
      http://example.invalid/logo.png
    schedule: {type: shuffle, collection: clips}   # flow style
    ffmpeg: *small
mqtt:
  enabled: false   # off for now
"""


def changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def channel(text: str, number: int) -> dict:
    return next(c for c in channels_of(text) if c["number"] == number)


def test_renaming_a_channel_changes_one_line():
    data = channel(TEXT, 1)
    data["name"] = "Uno"
    new = edit_channels(TEXT, ChannelEdit(EditKind.REPLACE, 1, data))
    assert changed_lines(TEXT, new) == ['-    name: "One"   # keep me',
                                        '+    name: "Uno"   # keep me']
    assert yaml.safe_load(new)["channels"][0]["name"] == "Uno"


def test_unchanged_values_keep_their_spelling():
    data = channel(TEXT, 2)  # enabled: yes reads as true; the folded logo; tab in quotes
    assert data["enabled"] is True and data["name"] == "Two\tTabbed"
    data["schedule"]["type"] = "ordered"
    new = edit_channels(TEXT, ChannelEdit(EditKind.REPLACE, 2, data))
    assert changed_lines(TEXT, new) == [
        "-    schedule: {type: shuffle, collection: clips}   # flow style",
        "+    schedule: {type: ordered, collection: clips}   # flow style"]


def test_env_references_are_data_not_resolved(monkeypatch):
    monkeypatch.setenv("EXSTREAMTV_TOKEN", "s3cret-value")
    monkeypatch.setenv("LOGO_HOST", "cdn.example")
    data = {"number": 3, "name": "Env", "logo": "http://${LOGO_HOST}/x.png",
            "schedule": {"type": "ordered", "collection": "clips"}}
    new = edit_channels(TEXT, ChannelEdit(EditKind.CREATE, 3, data))
    assert "s3cret-value" not in new and "cdn.example" not in new
    assert "api_token: ${EXSTREAMTV_TOKEN}   # never resolved" in new
    assert channel(new, 3)["logo"] == "http://${LOGO_HOST}/x.png"
    assert changed_lines(TEXT, new) == [
        "+  - number: 3", "+    name: Env", "+    logo: http://${LOGO_HOST}/x.png",
        "+    schedule:", "+      type: ordered", "+      collection: clips"]


def test_an_anchored_value_is_replaced_not_changed_for_everyone():
    data = channel(TEXT, 2)
    data["ffmpeg"] = {"video": {"width": 1280, "height": 720}}
    new = edit_channels(TEXT, ChannelEdit(EditKind.REPLACE, 2, data))
    parsed = yaml.safe_load(new)
    assert parsed["channels"][0]["ffmpeg"] == {"video": {"width": 640, "height": 360}}
    assert parsed["channels"][1]["ffmpeg"] == {"video": {"width": 1280, "height": 720}}
    assert parsed["defaults"] == {"video": {"width": 640, "height": 360}}
    assert "ffmpeg: *small" in new and "defaults: &small" in new


def test_merge_keys_read_back_the_same():
    text = ("base: &b\n  schedule: {type: ordered, collection: clips}\nchannels:\n"
            "  - <<: *b\n    number: 1\n    name: A\n")
    data = channel(text, 1)
    data["name"] = "B"
    new = edit_channels(text, ChannelEdit(EditKind.REPLACE, 1, data))
    assert yaml.safe_load(new)["channels"][0] == {"number": 1, "name": "B",
                                                   "schedule": {"type": "ordered",
                                                                "collection": "clips"}}


def test_strings_that_look_like_other_types_stay_strings():
    data = channel(TEXT, 1)
    for value in ("yes", "on", "null", "1:30", "0755", " padded ", "#hash", "a: b", "'q'"):
        data["name"] = value
        new = edit_channels(TEXT, ChannelEdit(EditKind.REPLACE, 1, data))
        assert yaml.safe_load(new)["channels"][0]["name"] == value


def test_delete_and_reorder_leave_other_channels_intact():
    new = edit_channels(TEXT, ChannelEdit(EditKind.DELETE, 1))
    assert [c["number"] for c in channels_of(new)] == [2]
    assert new.startswith("# ExStreamTV config, kept in git\n")
    assert new.endswith("mqtt:\n  enabled: false   # off for now\n")
    moved = edit_channels(TEXT, ChannelEdit(EditKind.REORDER, order=(2, 1)))
    assert [c["number"] for c in channels_of(moved)] == [2, 1]
    assert channels_of(moved)[1] == channels_of(TEXT)[0]
    assert '# keep me' in moved


def test_unknown_channel_is_a_key_error():
    with pytest.raises(KeyError):
        edit_channels(TEXT, ChannelEdit(EditKind.DELETE, 9))


def test_tabs_where_yaml_allows_them_survive():
    text = TEXT.replace("# the first channel", "# the\tfirst channel").replace(
        "path: '/media/it''s here'", "path: '/media/tab\there'")
    assert yaml.safe_load(text)["sources"][0]["path"] == "/media/tab\there"
    data = channel(text, 1)
    data["name"] = "Uno"
    new = edit_channels(text, ChannelEdit(EditKind.REPLACE, 1, data))
    assert len(changed_lines(text, new)) == 2
    assert "# the\tfirst channel" in new and "path: '/media/tab\there'" in new
    assert 'name: "Two\tTabbed"' in new


def test_yaml_the_loader_refuses_is_a_config_error():
    with pytest.raises(ConfigError, match="YAML syntax error at line 3"):
        edit_channels("channels: [\n  nope", ChannelEdit(EditKind.DELETE, 2))


def test_revision_is_the_content_hash():
    assert revision(TEXT) == revision(str(TEXT)) != revision(TEXT + "\n")
    assert len(revision(TEXT)) == 16


def test_section_edit_changes_only_its_lines_and_keeps_secrets():
    from exstreamtv.config.roundtrip import SECRET_KEPT, redact, restore, section_of

    text = TEXT.replace("mqtt:\n  enabled: false   # off for now\n",
                        "mqtt:\n  enabled: false   # off for now\n  password: hunter2-literal\n")
    shown = redact(section_of(text, "mqtt"))
    assert shown == {"enabled": False, "password": SECRET_KEPT}
    wanted = restore({**shown, "enabled": True}, section_of(text, "mqtt"))
    new = edit_channels(text, ChannelEdit(EditKind.SECTION, data=wanted, section="mqtt"))
    assert [" ".join(line.split()) for line in changed_lines(text, new)] == [
        "- enabled: false # off for now", "+ enabled: true # off for now"]
    with pytest.raises(KeyError):
        restore({"username": SECRET_KEPT}, section_of(text, "mqtt"))
    added = edit_channels(text, ChannelEdit(EditKind.SECTION, data={"keep_count": 3},
                                            section="database_backup"))
    assert changed_lines(text, added) == ["+database_backup:", "+  keep_count: 3"]


def test_source_edits_are_keyed_by_id():
    data = {"id": "clips", "type": "local", "path": "/media/other"}
    new = edit_channels(TEXT, ChannelEdit(EditKind.REPLACE, "clips", data, section="sources"))
    lines = changed_lines(TEXT, new)
    assert lines[0] == "-    path: '/media/it''s here'" and len(lines) == 2
    assert lines[1] in ("+    path: /media/other", "+    path: '/media/other'")
    gone = edit_channels(TEXT, ChannelEdit(EditKind.DELETE, "clips", section="sources"))
    assert "sources: []" in gone or yaml.safe_load(gone)["sources"] in ([], None)
    with pytest.raises(KeyError):
        edit_channels(TEXT, ChannelEdit(EditKind.DELETE, "nope", section="sources"))
