"""Text from the outside world (file names, tags, config) made safe for our outputs.

XML 1.0 forbids most control characters and lone surrogates (what Python keeps of a
file name that is not valid UTF-8) even when escaped: one such character makes a whole
XMLTV document ill-formed. :func:`clean` replaces them, :func:`xml_text` and
:func:`xml_attr` also escape. M3U lines and JSON go through :func:`clean` too.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

#: Characters XML 1.0 does not allow (its ``Char`` production), surrogates included.
_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: Line breaks and tabs, which end an M3U line or attribute.
_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")
REPLACEMENT = "\ufffd"


def clean(value: Any) -> str:
    """``value`` as text with every character XML 1.0 forbids replaced by U+FFFD."""
    return _FORBIDDEN.sub(REPLACEMENT, str(value))


def one_line(value: Any) -> str:
    """:func:`clean`, and line breaks and tabs as spaces (for M3U and log lines)."""
    return _BREAKS.sub(" ", clean(value))


def xml_text(value: Any) -> str:
    """Element content: cleaned, trimmed and escaped."""
    return escape(clean(value).strip())


def xml_attr(value: Any) -> str:
    """An attribute value with its quotes: cleaned and escaped."""
    return quoteattr(clean(value))


def printable_path(value: Any) -> str:
    """A path for a log line: undecodable bytes as ``\\xNN``, nothing that breaks a line."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return one_line(text)
