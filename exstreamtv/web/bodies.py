"""Request bodies and path numbers that no route should have to worry about.

* Bodies are at most ``MAX_BODY_BYTES`` (``413`` with a JSON error, before a route runs).
* A JSON body (``Content-Type: application/json`` or ``+json``) nested deeper than
  ``MAX_JSON_DEPTH`` is refused with ``400`` before any route parses it (a parser would
  otherwise recurse until it fails with a server error). The check strips strings and
  peels matched bracket pairs with regular expressions: at most ``MAX_JSON_DEPTH`` linear
  passes in C, so a 1 MiB body costs the event loop milliseconds.
* ``<int:...>`` in routes matches ASCII digits only (Werkzeug's accepts any Unicode digit,
  so ``/stream/channels/٣.ts`` was channel 3).
* ``<path:...>`` matches a line break too (Werkzeug's does not, so
  ``/api/backups/a%0A/restore`` matched no route: 404 before the token check, instead of
  the route's own 401 or 400).
"""

from __future__ import annotations

import re
from typing import Any

from quart import Response, request
from werkzeug.routing import IntegerConverter, PathConverter

from exstreamtv.web.common import error

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_INNERMOST = re.compile(rb"\[\]|\{\}")


class AsciiIntegerConverter(IntegerConverter):
    """``<int:...>`` with ASCII digits only."""

    regex = r"[0-9]+"


class AnyPathConverter(PathConverter):
    """``<path:...>`` whose characters include line breaks."""

    regex = r"[^/][\s\S]*?"


def json_depth_ok(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``body`` nests brackets at most ``limit`` deep.

    Matched pairs are removed innermost first; what is left of an unbalanced body (a
    truncated one, say) counts its openers as further levels, so ``[`` * 20,000 is deep
    while ``{`` is left for the route to refuse after its token check.
    """
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    for level in range(limit):
        if not brackets:
            return True
        brackets, count = _INNERMOST.subn(b"", brackets)
        if count == 0:
            openers = brackets.count(b"[") + brackets.count(b"{")
            return level + openers <= limit
    return not brackets


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


async def check_body() -> tuple[Response, int] | None:
    """For ``before_request``: 413 for a body over the limit, 400 for JSON nested too deep."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return _too_large()
    if not _is_json(request.mimetype):
        return None
    try:
        body = await request.get_data(cache=True)
    except Exception as exc:  # Werkzeug's 413 when a chunked body runs over the limit
        if getattr(exc, "code", None) == 413:
            return _too_large()
        raise
    if not json_depth_ok(body if isinstance(body, bytes) else str(body).encode()):
        return error(400, f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep "
                          "(or its brackets do not match)")
    return None


def _too_large() -> tuple[Response, int]:
    return error(413, f"the request body is too large (at most {MAX_BODY_BYTES} bytes)")


def install(app: Any) -> None:
    """ASCII-only ``int`` and line-break-proof ``path`` in routes; call before any
    blueprint is registered."""
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.url_map.converters["path"] = AnyPathConverter
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
