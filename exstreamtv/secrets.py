"""Secrets (source tokens, API keys) kept out of the server log.

Components register each secret they hold with :func:`register_secret`; the
:class:`SecretFilter` installed on the log handlers replaces every occurrence with
``***`` in the formatted message (ffmpeg's stderr, which may quote a URL carrying a
token, is logged through the same handlers).
"""

from __future__ import annotations

import logging

MASK = "***"
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it would appear in a log line (values under 4 characters are ignored)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """A handler filter that masks registered secrets in each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
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
