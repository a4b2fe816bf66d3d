"""Secrets (tokens, API keys, passwords) never leave the process: one registry, one mask.

What counts as a secret:

* every value of a config key whose name says so (:data:`SECRET_WORDS`: ``api_token``,
  ``mqtt.password``, a source's ``token`` or ``api_key``, a plugin section's ``secret``),
  collected by :func:`register_config` at start and on every reload;
* the password inside ``database.url``;
* the value of every ``${ENV}`` variable whose name says so (``PLEX_TOKEN``,
  ``DB_PASSWORD``), wherever the config substitutes it (:func:`register_env`);
* anything a component or plugin registers with :func:`register_secret`.

Secrets are only ever added (a rotated token stays masked). Values shorter than
:data:`MIN_LENGTH` are not matched in free text (they would mask ordinary words), but
they are still hidden under a secret-named key.

Every exit of the process uses the same two functions: :func:`mask` for text and
:func:`mask_data` for JSON-ready structures (keys named like a secret are replaced
whole, every string is scrubbed). The log handlers (:class:`SecretFilter`), the JSON API
and its errors, the SSE stream, MQTT payloads and the healing outcomes written to the
database all go through them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
#: A key (or ``${ENV}`` variable) whose lower-cased name contains one of these is secret.
SECRET_WORDS = ("password", "passwd", "token", "secret", "api_key", "apikey", "authorization",
                "credential")
#: Shorter values are masked under secret keys only, never inside free text.
MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None


def is_secret_name(name: object) -> bool:
    """True when a key or variable name says its value is secret (``api_token``, ``PLEX_TOKEN``)."""
    lowered = str(name).lower().replace("-", "_")
    return any(word in lowered for word in SECRET_WORDS)


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-encoded forms) wherever it would leave the process."""
    if not value or len(value) < MIN_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value)}
    global _secrets, _pattern
    with _lock:
        if forms <= _secrets:
            return
        _secrets = _secrets | forms
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_env(name: str, value: str) -> None:
    """Called for each ``${name}`` the config substitutes: secret-named variables are registered."""
    if is_secret_name(name) or name.upper().endswith("_KEY"):
        register_secret(value)


def register_config(config: Any) -> None:
    """Register every secret of a config: secret-named keys anywhere, the database password."""
    from sqlalchemy.engine import make_url

    with contextlib.suppress(Exception):  # not a URL SQLAlchemy reads: nothing to register
        register_secret(make_url(str(config.database.url)).password)
    for value in _secret_values(config):
        register_secret(value)


def _secret_values(value: Any, depth: int = 0) -> Iterable[str]:
    """Strings under secret-named keys of a config object (dataclasses, mappings, sequences)."""
    if depth > 12:
        return
    if hasattr(value, "__dataclass_fields__"):
        items: Iterable[tuple[Any, Any]] = ((n, getattr(value, n)) for n in value.__dataclass_fields__)
    elif isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _secret_values(v, depth + 1)
        return
    else:
        return
    for key, v in items:
        if isinstance(v, str) and is_secret_name(key):
            yield v
        else:
            yield from _secret_values(v, depth + 1)


def strip_credentials(url: str) -> str:
    """``url`` without query parameters that carry a credential (``X-Plex-Token``, ``api_key``).

    A parameter goes when its name is secret-named or its value is a registered secret.
    Used where URLs are stored (the library in the database), so a token never lands there.
    """
    if "?" not in url:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if not is_secret_name(k) and v not in _secrets]
    if len(kept) == len(query):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def mask_data(value: Any) -> Any:
    """A copy of a JSON-ready structure with secrets masked.

    Strings under secret-named keys become ``***`` (when set); every other string, keys
    included, has registered secrets replaced. Other values are returned unchanged.
    """
    if isinstance(value, str):
        return mask(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)  # as the JSON encoder would write it
    if isinstance(value, Mapping):
        return {mask(k) if isinstance(k, str) else k:
                MASK if isinstance(v, str) and v and is_secret_name(k) else mask_data(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v) for v in value]
    return value


class SecretFilter(logging.Filter):
    """A handler filter that masks registered secrets in each record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add a :class:`SecretFilter` to every handler of ``logger`` (default: the root)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())
