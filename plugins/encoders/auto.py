"""``encoder: auto``: the first hardware encoder that works here, else software.

Candidates in order: nvenc, qsv, vaapi, videotoolbox. One counts when ``ffmpeg
-encoders`` lists it AND a one-frame test encode through the real argv builder
succeeds (a listed encoder often has no device or driver behind it). The trial uses
the channel's ``encoder_options`` (so ``device`` picks the GPU or render node tried).
The choice is made once per ffmpeg binary and options, at server start for each channel
that uses ``auto``, and cached.
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

_chosen: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def detect(ffmpeg: str, options: dict[str, Any] | None = None) -> str:
    """The name of the encoder ``auto`` uses with ``ffmpeg`` and the channel's encoder
    ``options`` (cached per binary and options)."""
    options = dict(options or {})
    key = (ffmpeg, repr(sorted(options.items(), key=lambda kv: kv[0])))
    with _lock:
        if key in _chosen:
            return _chosen[key]
        listed = listed_encoders(ffmpeg)
        choice = "software"
        for name, (codec, factory) in HARDWARE.items():
            if codec not in listed:
                continue
            error = trial_encode(ffmpeg, factory(options))
            if error is None:
                choice = name
                break
            log.info("Encoder auto: %s is listed but does not work here (%s)", name, error)
        where = f" (device {options['device']})" if options.get("device") is not None else ""
        log.info("Encoder auto: using %s%s", choice, where)
        _chosen[key] = choice
        return choice


def auto_preset(options: dict[str, Any], tools: Any) -> EncoderPreset:
    """The preset of the detected encoder, with the channel's encoder options."""
    name = detect(tools.ffmpeg, options)
    if name == "software":
        return software_preset(options)
    return HARDWARE[name][1](options)


@hookimpl
def register_encoders(register: Any) -> None:
    register("auto", auto_preset, None, "the first working hardware encoder, else software")


@hookimpl
async def startup(hub: Any) -> None:
    """Detect once at start (off the event loop) when any channel uses ``auto``."""
    for channel in hub.config.channels:
        if channel.ffmpeg.encoder == "auto":
            await asyncio.to_thread(detect, hub.tools.ffmpeg, channel.ffmpeg.encoder_options)
