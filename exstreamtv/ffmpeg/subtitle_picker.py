"""Which subtitle stream a channel burns in, and the ffmpeg arguments for it (spec 4.1).

Preferences (``ffmpeg.subtitles``): ``languages`` in order, ``prefer`` text or image,
``sdh`` avoid / prefer / any, ``forced_only``. Priority, exactly as the spec:

1. exact language match + preferred type
2. exact language match + any type
3. the default stream
4. the first available stream

Within one step, SDH streams (disposition ``hearing_impaired`` or a title with SDH, CC
or "hearing impaired") are ordered after (``avoid``) or before (``prefer``) the others.
Text subtitles are burned in through the ``subtitles`` filter (the file name escaped
for the filtergraph by :mod:`exstreamtv.ffmpeg.escape`, so any name works), image
subtitles (PGS, DVD, DVB) through ``overlay``.
"""

from __future__ import annotations

import logging
import re

from exstreamtv.config.model import SubtitleConfig
from exstreamtv.ffmpeg.escape import file_location, filter_spec
from exstreamtv.media.language import normalize_language
from exstreamtv.media.models import MediaInfo, StreamInfo
from exstreamtv.media.pickers import SubtitleChoice

log = logging.getLogger(__name__)

_SDH_TITLE = re.compile(r"\b(sdh|cc|hearing[ -]impaired)\b", re.IGNORECASE)


def is_sdh(stream: StreamInfo) -> bool:
    """True for subtitles for the deaf and hard of hearing (disposition or title)."""
    return stream.hearing_impaired or bool(stream.title and _SDH_TITLE.search(stream.title))


def burn_in(info: MediaInfo, stream: StreamInfo, reason: str) -> SubtitleChoice:
    """The ffmpeg arguments that burn ``stream`` into the picture."""
    if stream.is_text_subtitle:
        if stream.external_path:
            flt = filter_spec("subtitles", ("filename", file_location(stream.external_path)))
        else:
            embedded = [s for s in info.subtitle_streams if not s.external_path]
            flt = filter_spec("subtitles", ("filename", file_location(info.path)),
                              ("si", embedded.index(stream)))
        return SubtitleChoice(stream, video_filters=(flt,), reason=reason)
    if stream.external_path:
        return SubtitleChoice(stream, overlay_stream=0, overlay_input=stream.external_path,
                              reason=reason)
    return SubtitleChoice(stream, overlay_stream=stream.index, reason=reason)


def _order_sdh(streams: list[StreamInfo], sdh: str) -> list[StreamInfo]:
    if sdh == "avoid":
        return sorted(streams, key=is_sdh)
    if sdh == "prefer":
        return sorted(streams, key=lambda s: not is_sdh(s))
    return list(streams)


def pick_subtitle_stream(info: MediaInfo, prefs: SubtitleConfig) -> SubtitleChoice:
    """The subtitle stream of ``info`` to burn in for ``prefs``, or none."""
    streams = info.subtitle_streams
    if prefs.forced_only:
        streams = [s for s in streams if s.forced]
    if not streams:
        return SubtitleChoice(reason="no subtitle stream" + (" (forced only)" if prefs.forced_only else ""))
    want_text = prefs.prefer != "image"
    for lang in prefs.languages:
        code = normalize_language(lang)
        if code is None:
            continue
        matches = _order_sdh([s for s in streams if s.language == code], prefs.sdh)
        typed = [s for s in matches if s.is_text_subtitle == want_text]
        if typed:
            return burn_in(info, typed[0], f"language {code}, {prefs.prefer}")
        if matches:
            got = "text" if matches[0].is_text_subtitle else "image"
            log.info("%s: %s subtitles wanted in %s but only %s ones exist; burning in the %s "
                     "stream %d", info.path, prefs.prefer, code, got, got, matches[0].index)
            return burn_in(info, matches[0], f"language {code}, {got} (no {prefs.prefer})")
    ordered = _order_sdh(streams, prefs.sdh)
    default = next((s for s in ordered if s.default), None)
    if default is not None:
        return burn_in(info, default, "default stream")
    return burn_in(info, ordered[0], "first stream")


class DefaultSubtitlePicker:
    """The built-in picker: :func:`pick_subtitle_stream`."""

    def pick(self, info: MediaInfo, prefs: SubtitleConfig) -> SubtitleChoice:
        """Choose the subtitle stream of ``info`` for ``prefs``."""
        return pick_subtitle_stream(info, prefs)
