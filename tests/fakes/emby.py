"""A fake Emby server: Jellyfin's items API as Emby serves it.

Emby answers its API under ``/emby`` (``/emby/Library/VirtualFolders``, ``/emby/Items``,
``/emby/Videos/{id}/stream``, ``/emby/Items/{id}/Images/Primary``) and reads the key from
the ``X-Emby-Token`` header or the ``api_key`` query parameter; a missing or wrong key gets
``401`` with Emby's plain-text reason. Paths outside ``/emby`` get the web app's HTML, as
a real Emby gives. Item records carry Emby's extra fields (``Etag``, ``SortName``,
``PresentationUniqueKey``, ``PremiereDate``) next to the ones both servers share.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.base import FakeItem, FakeLibrary, Handler
from tests.fakes.jellyfin import FakeJellyfin, guid, iso

UNAUTHORIZED = (b"Access token is invalid or expired.", "text/plain")
WEB_APP = (b"<!DOCTYPE html><html><head><title>Emby</title></head><body></body></html>",
           "text/html")


class FakeEmby(FakeJellyfin):
    """Emby's items API over a set of FakeLibrary objects."""

    dolby_vision_fields = False

    def authorised(self, handler: Handler, query: dict[str, str]) -> bool:
        given = handler.headers.get("X-Emby-Token") or query.get("api_key")
        return given == self.secret

    def handle(self, handler: Handler, path: str, query: dict[str, str]) -> None:
        if not path.startswith("/emby/"):
            handler.send_body(*WEB_APP, 200)
            return
        if not self.authorised(handler, query):
            handler.send_body(*UNAUTHORIZED, 401)
            return
        super().handle(handler, path[len("/emby"):], query)

    def _record(self, library: FakeLibrary, item: FakeItem) -> dict[str, Any]:
        record = super()._record(library, item)
        record.update(Etag=guid(f"{item.id}:{item.updated}"), SortName=item.title.lower(),
                      PresentationUniqueKey=guid(item.id), PremiereDate=iso(1_500_000_000))
        return record
