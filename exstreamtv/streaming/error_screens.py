"""Error screens: what a channel shows when it has nothing to play or a fault occurs.

Visual and audio modes are plugins (``register_error_screens``, ``register_error_audio``).
A visual factory receives an :class:`ErrorScreenRequest` and returns the ffmpeg input
options for the picture plus an optional filter; an audio factory returns the input
options for the sound. The screen is rendered through the channel's own encoder and
output profile, so it splices into a running stream like any item.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from exstreamtv.ffmpeg.escape import valid_text

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
    ffmpeg: str = "ffmpeg"


@dataclass(frozen=True)
class VisualInput:
    """Input options ending with ``-i ...`` and an optional filter on the picture."""

    args: tuple[str, ...]
    filter: str | None = None


def escape_drawtext(text: str) -> str:
    """Text for a drawtext ``text='...'`` value written inside single quotes (older form).

    Prefer :func:`exstreamtv.ffmpeg.escape.drawtext_filter`, which escapes the whole
    filter by ffmpeg's rules and draws any text as written (quotes included).
    """
    out = valid_text(text).replace("\\", "\\\\\\\\").replace("'", "\u2019").replace(":", "\\:")
    out = out.replace("%", "\\\\%").replace(",", "\\,").replace(";", "\\;")
    out = out.replace("[", "\\[").replace("]", "\\]").replace("\n", " ")
    return out


@lru_cache(maxsize=8)
def _drawtext_check(ffmpeg: str, fontconfig: tuple[str, str]) -> str | None:
    argv = [ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i",
            "color=s=64x32:d=0.04,drawtext=text=ok", "-frames:v", "1", "-f", "null", "-"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines()
    return lines[0] if lines else f"ffmpeg exited with {proc.returncode}"


def drawtext_problem(ffmpeg: str) -> str | None:
    """Why ``drawtext`` cannot render here (no fonts, no freetype), or None when it can.

    Checked once per ffmpeg binary and fontconfig set-up by rendering one frame.
    """
    fontconfig = (os.environ.get("FONTCONFIG_FILE", ""), os.environ.get("FONTCONFIG_PATH", ""))
    return _drawtext_check(ffmpeg, fontconfig)
