"""``encoder: auto``: the first hardware encoder that works here, else software.

Candidates in order: nvenc, qsv, vaapi, videotoolbox. One counts when ``ffmpeg
-encoders`` lists it AND a one-frame test encode through the real argv builder
succeeds (a listed encoder often has no device or driver behind it). The choice is
made once per ffmpeg binary, at server start when a channel uses ``auto``, and cached.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from exstreamtv import EncoderPreset, hookimpl, listed_encoders, trial_encode

from .hardware import HARDWARE
from .software import software_preset

log = logging.getLogger(__name__)

_chosen: dict[str, str] = {}
_lock = threading.Lock()


def detect(ffmpeg: str) -> str:
    """The name of the encoder ``auto`` uses with ``ffmpeg`` (cached per binary)."""
    with _lock:
        if ffmpeg in _chosen:
            return _chosen[ffmpeg]
        listed = listed_encoders(ffmpeg)
        choice = "software"
        for name, (codec, factory) in HARDWARE.items():
            if codec not in listed:
                continue
            error = trial_encode(ffmpeg, factory({}))
            if error is None:
                choice = name
                break
            log.info("Encoder auto: %s is listed but does not work here (%s)", name, error)
        log.info("Encoder auto: using %s", choice)
        _chosen[ffmpeg] = choice
        return choice


def auto_preset(options: dict[str, Any], tools: Any) -> EncoderPreset:
    """The preset of the detected encoder, with the channel's encoder options."""
    name = detect(tools.ffmpeg)
    if name == "software":
        return software_preset(options)
    return HARDWARE[name][1](options)


@hookimpl
def register_encoders(register: Any) -> None:
    register("auto", auto_preset, None, "the first working hardware encoder, else software")


@hookimpl
async def startup(hub: Any) -> None:
    """Detect once at start (off the event loop) when any channel uses ``auto``."""
    if any(ch.ffmpeg.encoder == "auto" for ch in hub.config.channels):
        await asyncio.to_thread(detect, hub.tools.ffmpeg)
