"""Exceptions the core raises and plugins may raise.

Every error carries a message written for the person running the server: what went
wrong and, where we know it, what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExStreamTVError(Exception):
    """Base class for every error ExStreamTV raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file, located by its key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ExStreamTVError):
    """A configuration that does not parse or validate; lists every problem found."""

    def __init__(self, problems: list[ConfigProblem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = "; ".join(str(p) for p in problems)
        super().__init__(f"Config error{where}: {lines}")


class PluginError(ExStreamTVError):
    """A plugin failed to load or misbehaved while registering something."""


class MediaError(ExStreamTVError):
    """A media file or URL could not be read or probed."""


class ChannelNotFound(ExStreamTVError):
    """No channel with the requested number is configured."""


class StreamUnavailable(ExStreamTVError):
    """A stream cannot be served right now (limit reached, channel offline)."""
