"""``audio.picker: default``: the spec 4.2 audio picker (exstreamtv.ffmpeg.audio_picker).

Preferred languages in order, then the default stream, then the first; commentary and
description tracks only when nothing else exists; downmixed to the channel's count.
"""

from __future__ import annotations

from typing import Any

from exstreamtv import DefaultAudioPicker, hookimpl


@hookimpl
def register_audio_pickers(register: Any) -> None:
    register("default", DefaultAudioPicker, None, "preferred language, then default, then first")
