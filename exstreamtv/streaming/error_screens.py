"""Error screens: what a channel shows when it has nothing to play or a fault occurs.

Visual and audio modes are plugins (``register_error_screens``, ``register_error_audio``).
A visual factory receives an :class:`ErrorScreenRequest` and returns the ffmpeg input
options for the picture plus an optional filter; an audio factory returns the input
options for the sound. The screen is rendered through the channel's own encoder and
output profile, so it splices into a running stream like any item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exstreamtv.config.model import ErrorScreenConfig
    from exstreamtv.ffmpeg.command import OutputProfile


@dataclass(frozen=True)
class ErrorScreenRequest:
    """Everything a mode needs to render: the reason, the channel, the profile."""

    reason: str
    channel_name: str
    channel_number: int
    profile: OutputProfile
    config: ErrorScreenConfig


@dataclass(frozen=True)
class VisualInput:
    """Input options ending with ``-i ...`` and an optional filter on the picture."""

    args: tuple[str, ...]
    filter: str | None = None


def escape_drawtext(text: str) -> str:
    """Escape text for a drawtext ``text=`` value inside a filtergraph."""
    out = text.replace("\\", "\\\\\\\\").replace("'", "\u2019").replace(":", "\\:")
    out = out.replace("%", "\\\\%").replace(",", "\\,").replace(";", "\\;")
    out = out.replace("[", "\\[").replace("]", "\\]").replace("\n", " ")
    return out
