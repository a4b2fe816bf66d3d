"""``subtitles.picker: default``: the spec 4.1 subtitle picker (exstreamtv.ffmpeg.subtitle_picker).

Exact language + preferred type, exact language + any type, the default stream, the
first stream; text burned in with the ``subtitles`` filter, images with ``overlay``.
"""

from __future__ import annotations

from typing import Any

from exstreamtv import DefaultSubtitlePicker, hookimpl


@hookimpl
def register_subtitle_pickers(register: Any) -> None:
    register("default", DefaultSubtitlePicker, None, "spec 4.1 priority")
