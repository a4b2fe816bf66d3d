"""Strings that reach ffmpeg, passed safely: filter option values, filtergraphs, inputs.

A value inside ``-filter_complex`` is read twice by libavfilter (doc/filters.texi,
"Notes on filtergraph escaping"):

1. the filtergraph parser cuts the graph into filters at ``[ ] , ;``; inside one
   filter's arguments a backslash escapes the next character and ``'...'`` quotes;
2. the filter then splits its arguments into ``key=value`` pairs at ``:``, again
   with backslash escapes and ``'...'`` quotes.

So a value is first quoted for level 2 (:func:`option_value`: inside ``'...'``
nothing is special but the quote itself, which is written ``'\\''``), then the whole
``key=value:...`` string is escaped for level 1 (:func:`escape_graph`: a backslash
before each of ``\\ ' [ ] , ;``). :func:`filter_spec` does both.

``drawtext`` expands ``%{...}`` in its text, a third level; :func:`drawtext_filter`
turns expansion off, so any text is drawn as written.

File names given to ``-i`` go through :func:`input_location`: a relative path that
starts with ``-`` or looks like ``proto:...`` gets the ``file:`` prefix, so ffmpeg
neither reads it as an option nor as a protocol.
"""

from __future__ import annotations

import os
import re

#: Characters the filtergraph parser (level 1) treats specially.
GRAPH_SPECIAL = frozenset("\\'[],;")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.+/@#-]+")


def option_value(value: str) -> str:
    """``value`` as one filter option value (the filter's own ``key=value:...`` level)."""
    if _PLAIN_VALUE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def escape_graph(text: str) -> str:
    """``text`` (one filter's arguments) escaped for the filtergraph parser."""
    return "".join("\\" + ch if ch in GRAPH_SPECIAL else ch for ch in text)


def filter_spec(name: str, *options: tuple[str, str | int | float]) -> str:
    """``name=key=value:...`` for a filtergraph, every value escaped at both levels."""
    if not options:
        return name
    args = ":".join(f"{key}={option_value(str(value))}" for key, value in options)
    return f"{name}={escape_graph(args)}"


def file_location(path: str) -> str:
    """A local path as ffmpeg must see it inside a filter (absolute: never a protocol)."""
    if path.startswith("file:") or "://" in path:
        return path
    return os.path.abspath(path)


def valid_text(text: str) -> str:
    """``text`` as valid UTF-8 for drawing: undecodable bytes of a file name become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def drawtext_filter(text: str, *options: tuple[str, str | int | float]) -> str:
    """A ``drawtext`` filter that draws ``text`` literally (no ``%{...}`` expansion)."""
    return filter_spec("drawtext", ("expansion", "none"), ("text", valid_text(text)), *options)


def input_location(location: str) -> str:
    """``location`` as the argument of ``-i``: URLs unchanged, odd local paths as ``file:``."""
    if "://" in location or location.startswith(("file:", "/")):
        return location
    return f"file:{location}"
