"""Which audio stream a channel plays, and how it is mixed to the channel's layout (spec 4.2).

Selection: the preferred languages in order (ISO 639 codes in any form, normalised to
639-2/T), then the default stream, then the first stream. Commentary and audio
description tracks (disposition ``comment``/``visual_impaired`` or a title saying so) are
only chosen when nothing else exists.

Downmix table (coefficients ITU-R BS.775 style, -3 dB = 0.707 for centre and
surrounds, LFE dropped; ``pan`` with ``<`` renormalises each output so it cannot clip):

==============  ======  =========================================================
input           target  filter
==============  ======  =========================================================
5.1             stereo  ``pan=stereo|FL<FL+0.707*FC+0.707*BL|FR<FR+0.707*FC+0.707*BR``
5.1(side)       stereo  same with SL/SR in place of BL/BR
7.1             5.1     ``pan=5.1|FL=FL|FR=FR|FC=FC|LFE=LFE|BL<0.707*BL+0.707*SL|BR<...``
7.1             stereo  ``pan=stereo|FL<FL+0.707*FC+0.5*BL+0.5*SL|FR<...`` (the two steps in one)
stereo          mono    ``pan=mono|c0=0.5*FL+0.5*FR``
==============  ======  =========================================================

Any other change of channel count is left to ffmpeg's resampler (``aformat`` in the
command builder), which uses the same matrix family.
"""

from __future__ import annotations

import logging
import re

from exstreamtv.config.model import AudioConfig
from exstreamtv.media.language import normalize_language
from exstreamtv.media.models import MediaInfo, StreamInfo
from exstreamtv.media.pickers import AudioChoice

log = logging.getLogger(__name__)

_EXTRA_TITLE = re.compile(r"comment|description|descriptive|narrat", re.IGNORECASE)
_C = "0.707"

#: (input layout, target channel count) -> pan filter.
DOWNMIX: dict[tuple[str, int], str] = {
    ("5.1", 2): f"pan=stereo|FL<FL+{_C}*FC+{_C}*BL|FR<FR+{_C}*FC+{_C}*BR",
    ("5.1(side)", 2): f"pan=stereo|FL<FL+{_C}*FC+{_C}*SL|FR<FR+{_C}*FC+{_C}*SR",
    ("7.1", 6): f"pan=5.1|FL=FL|FR=FR|FC=FC|LFE=LFE|BL<{_C}*BL+{_C}*SL|BR<{_C}*BR+{_C}*SR",
    ("7.1", 2): f"pan=stereo|FL<FL+{_C}*FC+0.5*BL+0.5*SL|FR<FR+{_C}*FC+0.5*BR+0.5*SR",
    ("stereo", 1): "pan=mono|c0=0.5*FL+0.5*FR",
}

_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


def input_layout(stream: StreamInfo) -> str | None:
    """The stream's channel layout name, guessed from the channel count when untagged."""
    layout = (stream.channel_layout or "").strip()
    if layout:
        return layout
    return _DEFAULT_LAYOUTS.get(stream.channels or 0)


def downmix_filter(stream: StreamInfo, channels: int) -> str | None:
    """The spec's downmix ``pan`` filter from ``stream`` to ``channels``; None if not needed."""
    if stream.channels is not None and stream.channels <= channels:
        return None
    layout = input_layout(stream)
    return DOWNMIX.get((layout, channels)) if layout else None


def is_extra_track(stream: StreamInfo) -> bool:
    """True for commentary and audio description tracks."""
    return stream.comment or stream.visual_impaired or bool(
        stream.title and _EXTRA_TITLE.search(stream.title)
    )


def _choice(stream: StreamInfo, prefs: AudioConfig, reason: str) -> AudioChoice:
    flt = downmix_filter(stream, prefs.channels)
    if flt:
        reason += f"; downmix {input_layout(stream)} to {prefs.channels} channels"
    return AudioChoice(stream, flt, reason)


def pick_audio_stream(info: MediaInfo, prefs: AudioConfig) -> AudioChoice:
    """The audio stream of ``info`` for ``prefs`` (None stream: the file has no audio)."""
    streams = info.audio_streams
    if not streams:
        return AudioChoice(None, reason="no audio stream; playing silence")
    main = [s for s in streams if not is_extra_track(s)]
    only_extras = not main
    candidates = main or streams
    wanted = [normalize_language(lang) for lang in prefs.languages]
    for code in wanted:
        if code is None:
            continue
        matches = [s for s in candidates if s.language == code]
        if matches:
            best = next((s for s in matches if s.default), matches[0])
            return _choice(best, prefs, f"language {code}")
    unknown = sorted({s.language or "und" for s in candidates})
    log.info("No audio track in %s (have %s) for %s; using %s", info.path, ", ".join(unknown),
             ", ".join(c or "?" for c in wanted) or "no preference",
             "the default track" if any(s.default for s in candidates) else "the first track")
    default = next((s for s in candidates if s.default), None)
    if default is not None:
        return _choice(default, prefs, "default stream" + (" (only extras)" if only_extras else ""))
    return _choice(candidates[0], prefs, "first stream" + (" (only extras)" if only_extras else ""))


class DefaultAudioPicker:
    """The built-in picker: :func:`pick_audio_stream`."""

    def pick(self, info: MediaInfo, prefs: AudioConfig) -> AudioChoice:
        """Choose the audio stream of ``info`` for ``prefs``."""
        return pick_audio_stream(info, prefs)
