"""Text subtitles for HLS viewers: a WebVTT rendition on the channel's spliced clock.

HLS here is cut from the channel's MPEG-TS, which carries image subtitles only (DVB; see
:mod:`exstreamtv.ffmpeg.dvb_subtitles`). The text subtitles of an item (SRT, ASS,
WebVTT, mov_text; embedded or a sidecar) are read by ffmpeg as WebVTT
(:func:`extract_cues`) when the item starts, moved onto the output timeline where the
item's first picture lies (:meth:`CueTrack.add`), and cut into one WebVTT file per HLS
segment (:meth:`CueTrack.segment`). Each file maps its cue times to the MPEG-TS clock
with ``X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000``: a cue at ``t`` seconds is shown
with the picture whose PTS is ``t * 90000`` (the 33-bit PTS wraps after 26.5 hours of
one channel run; cues after that come at wrong times).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from dataclasses import dataclass

from exstreamtv.ffmpeg.escape import input_location

log = logging.getLogger(__name__)

_TIMING = re.compile(r"^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})\s+-->\s+(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})")
_START = re.compile(r"Duration: .*?, start: (-?[\d.]+)")
#: Cues kept per channel (the newest; an HLS window is a few segments).
MAX_CUES = 500


@dataclass(frozen=True)
class CueSource:
    """Where an item's text subtitles are read: stream ``stream`` of ``location`` (a file
    or a sidecar) from ``offset`` for ``duration`` seconds."""

    location: str
    stream: int
    offset: float
    duration: float


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_webvtt(text: str) -> list[Cue]:
    """The cues of a WebVTT document (times in seconds; identifiers and settings dropped)."""
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            match = _TIMING.match(line)
            if match:
                g = match.groups()
                body = "\n".join(lines[i + 1:]).strip()
                if body:
                    cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), body))
                break
    return cues


def _timestamp(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _cue_text(text: str) -> str:
    """Cue text that cannot end the cue early or open markup it does not mean."""
    lines = [line for line in text.split("\n") if line.strip()]
    return "\n".join(lines).replace("-->", "->")


async def extract_cues(ffmpeg: str, source: CueSource, timeout: float = 60.0) -> list[Cue]:
    """The cues of ``source``, timed from its offset (empty when ffmpeg cannot read them).

    ffmpeg seeks near the offset (``-ss``) but keeps the file's own timestamps
    (``-copyts``): a seek lands on a keyframe before the offset and shifts text cues by
    that much otherwise. The cues are then moved by the offset plus the file's start
    time (which ffmpeg prints as ``start:``), the zero of the item's ffmpeg output.
    """
    location = source.location
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-v", "info"]
    if source.offset > 0.01:
        argv += ["-ss", f"{source.offset:.3f}"]
    argv += ["-copyts", "-i", input_location(location), "-map", f"0:{source.stream}",
             "-t", f"{source.duration:.3f}", "-f", "webvtt", "pipe:1"]
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE,
                                                    stdin=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        log.warning("Cannot read the text subtitles of %s: %s", location, exc)
        return []
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("Reading the text subtitles of %s took over %.0f s; none sent",
                    location, timeout)
        return []
    stderr = err.decode(errors="replace")
    if proc.returncode != 0:
        last = stderr.strip().splitlines()[-1:] or ["no reason given"]
        log.warning("Cannot read the text subtitles of %s: %s", location, last[0])
        return []
    start = _START.search(stderr)
    zero = source.offset + (float(start.group(1)) if start else 0.0)
    cues = []
    for cue in parse_webvtt(out.decode("utf-8", "replace")):
        if cue.end - zero > 0:
            cues.append(Cue(max(0.0, cue.start - zero), cue.end - zero, cue.text))
    return cues


class CueTrack:
    """A channel's text cues on the output timeline, cut per HLS segment."""

    def __init__(self, ffmpeg: str, keep: int = MAX_CUES) -> None:
        self.ffmpeg = ffmpeg
        self.cues: deque[Cue] = deque(maxlen=keep)

    def read(self, source: CueSource) -> asyncio.Task[list[Cue]]:
        """Start reading an item's cues (when its ffmpeg starts)."""
        return asyncio.get_running_loop().create_task(extract_cues(self.ffmpeg, source),
                                                      name="webvtt-cues")

    def place(self, reading: asyncio.Task[list[Cue]], base: float, limit: float) -> None:
        """Add the cues ``reading`` gives, once it has, for an item shown from ``base``."""
        def done(task: asyncio.Task[list[Cue]]) -> None:
            if not task.cancelled() and task.exception() is None:
                self.add(task.result(), base, limit)
        reading.add_done_callback(done)

    def add(self, cues: list[Cue], base: float, limit: float | None = None) -> None:
        """Cues timed from an item's first picture, which the output shows at ``base``
        seconds; none past ``limit`` seconds of the item (where it is cut)."""
        for cue in cues:
            if limit is not None and cue.start >= limit:
                continue
            end = min(cue.end, limit) if limit is not None else cue.end
            placed = Cue(base + cue.start, base + end, cue.text)
            # An item resumed after a restart brings its remaining cues again.
            if not any(abs(c.start - placed.start) < 0.25 and c.text == placed.text
                       for c in self.cues):
                self.cues.append(placed)

    def segment(self, start: float, end: float) -> str:
        """The WebVTT file of the segment showing ``start`` to ``end`` (output seconds):
        the cues that begin in it."""
        lines = ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000", ""]
        for cue in self.cues:
            if start <= cue.start < end:
                lines += [f"{_timestamp(cue.start)} --> {_timestamp(cue.end)}",
                          _cue_text(cue.text), ""]
        return "\n".join(lines) + "\n"
