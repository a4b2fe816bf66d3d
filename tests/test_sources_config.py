"""Source options and collection references in the config; the periodic rescan's retry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from exstreamtv.config import validate_config
from exstreamtv.config.model import SourceConfig
from exstreamtv.errors import ConfigError
from exstreamtv.events import EventBus
from exstreamtv.media.library import Library
from exstreamtv.media.models import MediaItem
from exstreamtv.media.source import MediaSource, SourceContext
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import Registry, collect_registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    return collect_registry(host)


def config(collection: str, **plex: Any) -> dict[str, Any]:
    return {
        "sources": [{"id": "plex", "type": "plex", "url": "http://127.0.0.1:32400",
                     "token": "${EXS_PLEX_TOKEN}", **plex}],
        "channels": [{"number": 1, "name": "A",
                      "schedule": {"type": "ordered", "collection": collection}}],
    }


def problems(raw: dict[str, Any], registry: Registry) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw, registry)
    return [str(p) for p in info.value.problems]


def test_plex_options_defaults_and_env_token(registry: Registry,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXS_PLEX_TOKEN", "abc123token")
    source = validate_config(config("plex:show:Star Trek"), registry).sources[0]
    assert source.options["token"] == "abc123token"
    assert (source.options["page_size"], source.options["timeout"],
            source.options["verify_tls"], source.options["scan_interval_minutes"]) == \
        (500, 30.0, True, 60)
    assert source.options["libraries"] == [] and source.options["path_replacements"] == []


def test_collection_names_of_a_source_pass_and_unknown_sources_fail(
        registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXS_PLEX_TOKEN", "abc123token")
    for name in ("plex", "plex:show:Star Trek", "plex:genre:Drama", "plex:library:Movies"):
        validate_config(config(name), registry)
    found = problems(config("plx:show:Star Trek"), registry)
    assert any("unknown collection 'plx:show:Star Trek'" in p for p in found), found


def test_bad_plex_options_name_their_path(registry: Registry,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXS_PLEX_TOKEN", "abc123token")
    found = problems(config("plex", url="nas:32400", path_replacements=[{"from": "/a"}]),
                     registry)
    assert any(p.startswith("sources[0].url") for p in found), found
    assert any("sources[0].path_replacements[0]" in p for p in found), found


class Flaky(MediaSource):
    """Fails its first two scans, then has one item."""

    def __init__(self) -> None:
        super().__init__(SourceConfig("flaky", "flaky"),
                         SourceContext(None, Path("."), EventBus()))  # type: ignore[arg-type]
        self.calls = 0

    async def scan(self) -> list[MediaItem]:
        self.calls += 1
        if self.calls <= 2:
            raise ConnectionError("server blinked")
        return [MediaItem("x", "flaky", "X", "/x.mp4", 1.0)]


def test_periodic_rescan_retries_after_failure() -> None:
    async def scenario() -> tuple[int, str]:
        source = Flaky()
        library = Library(EventBus())
        library.add_source(source)
        await library.scan("flaky")
        # A one-hour interval; after a failure the retry comes after retry_seconds.
        task = asyncio.create_task(library.rescan_periodically("flaky", 60, retry_seconds=0.01))
        for _ in range(200):
            if library.status["flaky"].state == "ok":
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return source.calls, library.status["flaky"].state

    calls, state = asyncio.run(scenario())
    assert (calls, state) == (3, "ok")
