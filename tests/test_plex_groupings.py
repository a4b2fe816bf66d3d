"""Plex collections and playlists become collections a channel can play.

The fake Plex speaks Plex's wire format for ``/library/sections/{key}/collections``,
``/library/collections/{key}/children``, ``/playlists?playlistType=video`` and
``/playlists/{key}/items``; the real source syncs from it and a real scheduler plays the
result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import voluptuous as vol
from exstreamtv_plugins.sources import plex

from exstreamtv.config.model import SourceConfig
from exstreamtv.events import EventBus
from exstreamtv.ffmpeg.locate import FFmpegTools
from exstreamtv.media.models import MediaItem
from exstreamtv.media.remote import RemoteSource
from exstreamtv.media.source import SourceContext
from tests.fakes.base import catalogue
from tests.fakes.plex import FakeGrouping, FakePlex
from tests.scheduling_helpers import library, scheduler

SECRET = "plex-groupings-token"


def _source(fake: FakePlex, tmp: Path) -> RemoteSource:
    validated = vol.Schema(plex.SCHEMA)({"url": fake.url, "token": SECRET})
    tools = FFmpegTools("ffmpeg", "ffprobe", "test", "PATH")
    return plex.factory(SourceConfig("plex", "plex", validated),
                        SourceContext(tools, tmp, EventBus()))


def _titles(items: list[MediaItem]) -> list[str]:
    return [i.title for i in items]


def _scans(source: RemoteSource, *between: Callable[[], object]) -> list[list[MediaItem]]:
    """Scan once, then once more after each of ``between`` (one event loop, as a server)."""

    async def run() -> list[list[MediaItem]]:
        try:
            results = [list(await source.scan())]
            for step in between:
                step()
                results.append(list(await source.scan()))
            return results
        finally:
            await source.close()

    return asyncio.run(run())


def _fake(clips: Path) -> FakePlex:
    # Items 101/102 are movies, 201/202 episodes of "Test Show" (tests.fakes.base.catalogue).
    groupings = [
        FakeGrouping("9001", "Favourites", ["102"], library="1"),
        FakeGrouping("9002", "Sci-Fi Shows", ["Test Show"], library="2"),
        FakeGrouping("9101", "Friday Night", ["202", "101", "201"]),
    ]
    return FakePlex(SECRET, catalogue(clips), groupings).start()


def test_collections_and_playlists_are_collections_in_the_playlists_order(
        clips: Path, tmp_path: Path) -> None:
    fake = _fake(clips)
    try:
        [items] = _scans(_source(fake, tmp_path))
    finally:
        fake.stop()
    lib = library({"plex": items})
    assert _titles(lib.collection("plex:collection:Favourites")) == ["Second Movie"]
    # A collection of shows holds their episodes.
    assert set(_titles(lib.collection("plex:collection:Sci-Fi Shows"))) == {
        "Pilot", "Second Episode"}
    # A playlist plays in its own order, not the library's.
    friday = "plex:playlist:Friday Night"
    assert _titles(lib.collection(friday)) == ["Second Episode", "First Movie", "Pilot"]
    channel = scheduler({"type": "ordered", "collection": friday}, lib)
    window = channel.window(0.0, 3 * 4.5 * 2)
    assert _titles([e.item for e in window if e.item])[:3] == [
        "Second Episode", "First Movie", "Pilot"]


def test_a_changed_playlist_is_read_again_and_an_unchanged_one_is_not(
        clips: Path, tmp_path: Path) -> None:
    fake = _fake(clips)
    source = _source(fake, tmp_path)
    fetched: list[list[str]] = []

    def members_fetched() -> None:
        fetched.append([r for r in fake.requests if "/children" in r or "/items" in r])
        fake.requests.clear()

    def change() -> None:
        members_fetched()
        # The playlist is reordered and a collection emptied, no item changing at all.
        playlist, favourites = fake.groupings[2], fake.groupings[0]
        playlist.members, playlist.updated = ["201", "202"], playlist.updated + 60
        favourites.members, favourites.updated = [], favourites.updated + 60

    try:
        *_, items = _scans(source, members_fetched, change)
    finally:
        fake.stop()
    # Three lists read at first; a scan with nothing changed asks for the lists, not their
    # members; a changed list is read again.
    assert [len(f) for f in fetched] == [3, 0]
    assert source.last_sync["mode"] == "incremental"
    lib = library({"plex": items})
    assert _titles(lib.collection("plex:playlist:Friday Night")) == ["Pilot", "Second Episode"]
    assert lib.collection("plex:collection:Favourites") == []


def test_an_unreadable_playlist_list_keeps_the_groupings_read_before(
        clips: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = _fake(clips)
    source = _source(fake, tmp_path)
    try:
        with caplog.at_level(logging.WARNING):
            _, items = _scans(source, lambda: fake.broken.add("/playlists"))
    finally:
        fake.stop()
    # The items sync as before and keep the collections and playlists read last time.
    assert len(items) == 4
    assert "plex:playlist:Friday Night" in {c for i in items for c in i.collections}
    assert "could not read the collections and playlists" in caplog.text
