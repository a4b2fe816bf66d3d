"""Fixtures for the whole suite; the helpers live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Server, base_config, clips_folder, write_config


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests (marked ``slow``) first: the workers start on them and fill in with the
    short ones, instead of one worker running a two-minute test alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def clips() -> Path:
    """Three 4-second 320x180 clips with English stereo audio."""
    return clips_folder("basic", 3, 4.0)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start real servers from config mappings; every one is stopped at the end."""
    started: list[Server] = []

    def make(config: dict[str, Any], name: str = "exstreamtv.yaml", **kwargs: Any) -> Server:
        path = write_config(tmp_path / name, config)
        server = Server(path, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def config_for(tmp_path: Path, clips: Path) -> Callable[..., dict[str, Any]]:
    """A config mapping with the clips as source ``clips`` and channel 1."""

    def make(**sections: Any) -> dict[str, Any]:
        return base_config(tmp_path, clips, **sections)

    return make
