"""``type: emby``: the movies and episodes of an Emby server, synced through its HTTP API.

Options: ``url`` (the server, e.g. ``http://emby:8096``), ``api_key`` (write
``${EMBY_API_KEY}``; an API key made in Emby's dashboard under Advanced > API Keys, sent
only in the ``X-Emby-Token`` header and masked in every log line and answer),
``libraries``, ``path_replacements``, ``page_size``, ``timeout``, ``verify_tls``,
``scan_interval_minutes``: the same as ``type: jellyfin``.

Jellyfin began as a fork of Emby and both still speak the same items API, so this source
is the Jellyfin source with Emby's differences: every path is under ``/emby``
(``/emby/Library/VirtualFolders``, ``/emby/Items`` with ``ParentId``, ``Recursive``,
``IncludeItemTypes``, ``Fields``, ``StartIndex``/``Limit`` and ``MinDateLastSaved`` for
incremental sync; ``/emby/Videos/{id}/stream?static=true`` to play;
``/emby/Items/{id}/Images/Primary`` for artwork), the key goes in ``X-Emby-Token``, and
an item's Emby id is kept as ``metadata.emby_id``. Items play through the local media
relay, which adds the key header, so the key is never in a URL or a command line.
"""

from __future__ import annotations

from typing import Any

from exstreamtv import SourceConfig, SourceContext, hookimpl

from .jellyfin import SCHEMA, JellyfinSource


class EmbySource(JellyfinSource):
    """Movies and episodes of the selected Emby libraries."""

    product = "Emby"
    api_prefix = "/emby"
    id_key = "emby_id"

    def headers(self) -> dict[str, str]:
        return {"X-Emby-Token": self.api_key}


def factory(config: SourceConfig, context: SourceContext) -> EmbySource:
    return EmbySource(config, context)


@hookimpl
def register_sources(register: Any) -> None:
    register("emby", factory, SCHEMA, "movies and episodes of an Emby server")
