"""``audio.picker: default``: the audio stream in the preferred language.

Languages are tried in the configured order; commentary and description tracks are
avoided unless nothing else matches; without a match, the default stream, then the
first. The output channel count is set by the profile.
"""

from __future__ import annotations

from typing import Any

from exstreamtv import AudioChoice, AudioConfig, MediaInfo, StreamInfo, hookimpl
from exstreamtv.media.language import normalize_language


def _is_extra(stream: StreamInfo) -> bool:
    title = (stream.title or "").lower()
    return stream.comment or stream.visual_impaired or "commentary" in title or "description" in title


class DefaultAudioPicker:
    """Language order first, then default, then first; extras last."""

    def pick(self, info: MediaInfo, prefs: AudioConfig) -> AudioChoice:
        streams = info.audio_streams
        if not streams:
            return AudioChoice(None, reason="no audio stream; playing silence")
        main = [s for s in streams if not _is_extra(s)] or streams
        for lang in prefs.languages:
            code = normalize_language(lang)
            for stream in main:
                if stream.language == code:
                    return AudioChoice(stream, reason=f"language {code}")
        default = next((s for s in main if s.default), None)
        if default is not None:
            return AudioChoice(default, reason="default stream")
        return AudioChoice(main[0], reason="first stream")


@hookimpl
def register_audio_pickers(register: Any) -> None:
    register("default", DefaultAudioPicker, None, "preferred language, then default, then first")
