"""``subtitles.picker: default``: which subtitle stream to burn in, if any.

Priority (spec 4.1): exact language + preferred type, exact language + any type,
the default stream, the first stream. Text subtitles are burned in with the
``subtitles`` filter, image subtitles with ``overlay``.
"""

from __future__ import annotations

from typing import Any

from exstreamtv import MediaInfo, StreamInfo, SubtitleChoice, SubtitleConfig, hookimpl
from exstreamtv.media.language import normalize_language


def _filter_path(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,")


def burn_in(info: MediaInfo, stream: StreamInfo, reason: str) -> SubtitleChoice:
    """The ffmpeg arguments that burn ``stream`` into the picture."""
    if stream.is_text_subtitle:
        if stream.external_path:
            flt = f"subtitles=filename='{_filter_path(stream.external_path)}'"
        else:
            position = info.subtitle_streams.index(stream)
            flt = f"subtitles=filename='{_filter_path(info.path)}':si={position}"
        return SubtitleChoice(stream, video_filters=(flt,), reason=reason)
    if stream.external_path:
        return SubtitleChoice(stream, overlay_stream=0, overlay_input=stream.external_path,
                              reason=reason)
    return SubtitleChoice(stream, overlay_stream=stream.index, reason=reason)


class DefaultSubtitlePicker:
    def pick(self, info: MediaInfo, prefs: SubtitleConfig) -> SubtitleChoice:
        streams = info.subtitle_streams
        if prefs.forced_only:
            streams = [s for s in streams if s.forced]
        if not streams:
            return SubtitleChoice(reason="no subtitle stream")
        want_text = prefs.prefer == "text"
        for lang in prefs.languages:
            code = normalize_language(lang)
            matches = [s for s in streams if s.language == code]
            if prefs.sdh == "avoid":
                matches.sort(key=lambda s: s.hearing_impaired)
            elif prefs.sdh == "prefer":
                matches.sort(key=lambda s: not s.hearing_impaired)
            typed = [s for s in matches if s.is_text_subtitle == want_text]
            if typed:
                return burn_in(info, typed[0], f"language {code}, {prefs.prefer}")
            if matches:
                return burn_in(info, matches[0], f"language {code}")
        default = next((s for s in streams if s.default), None)
        if default is not None:
            return burn_in(info, default, "default stream")
        return burn_in(info, streams[0], "first stream")


@hookimpl
def register_subtitle_pickers(register: Any) -> None:
    register("default", DefaultSubtitlePicker, None, "spec 4.1 priority")
