"""Live HLS from a channel's shared buffer: no second ffmpeg, segments cut in memory.

An :class:`HLSPackager` reads the channel's :class:`ChannelBuffer` like one more viewer
and cuts its keyframe-aligned chunks into segments of about ``target_seconds``. Every
segment therefore starts with PAT/PMT and a video keyframe (what Safari and hls.js
want), timestamps are the spliced, continuous ones, and only the newest ``keep``
segments stay in memory. A gap in the packager's reading (it fell out of the buffer)
marks the next segment with ``EXT-X-DISCONTINUITY``.

A channel that sends subtitles as a stream also has a WebVTT rendition: one WebVTT
file per segment, with the same sequence numbers, cut from the channel's
:class:`~exstreamtv.streaming.webvtt.CueTrack` by each segment's first picture time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import re
from collections import deque
from dataclasses import dataclass

from exstreamtv.streaming.buffer import ChannelBuffer, Chunk, ReaderBehind
from exstreamtv.streaming.ts_fields import PACKET_SIZE, PTS_HZ, read_pts
from exstreamtv.streaming.webvtt import CueTrack

SEGMENT_NAME = re.compile(r"^seg-(\d{1,12})\.ts\Z")
SUBTITLE_NAME = re.compile(r"^sub-(\d{1,12})\.vtt\Z")
SESSION_ID = re.compile(r"^[0-9a-f]{32}\Z")


@dataclass(frozen=True)
class HLSSegment:
    sequence: int
    data: bytes
    duration: float
    discontinuity: bool
    #: The PTS of its first picture and of the picture after its last one, seconds.
    pictures: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        return f"seg-{self.sequence}.ts"


def picture_span(data: bytes) -> tuple[float, float] | None:
    """(first picture PTS, last picture PTS + one frame) of the video PES (stream id
    0xE0-0xEF) in ``data``, seconds; what the segment shows, so that successive segments'
    spans meet without overlapping."""
    times: list[int] = []
    for at in range(0, len(data) - PACKET_SIZE + 1, PACKET_SIZE):
        pkt = data[at:at + PACKET_SIZE]
        if not pkt[1] & 0x40 or not pkt[3] & 0x10:
            continue
        start = 5 + pkt[4] if pkt[3] & 0x20 else 4
        if start + 14 <= PACKET_SIZE and pkt[start:start + 3] == b"\x00\x00\x01" \
                and 0xE0 <= pkt[start + 3] <= 0xEF and pkt[start + 7] & 0x80:
            times.append(read_pts(pkt, start + 9))
    if not times:
        return None
    times.sort()
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return times[0] / PTS_HZ, (times[-1] + (min(steps) if steps else 0)) / PTS_HZ


class HLSPackager:
    """Cuts one channel's buffer into a sliding window of in-memory HLS segments."""

    def __init__(self, buffer: ChannelBuffer, target_seconds: float = 2.0,
                 window: int = 5, keep: int = 8, cues: CueTrack | None = None) -> None:
        self.buffer = buffer
        #: Text cues for the WebVTT rendition (None: the channel has none).
        self.cues = cues
        self.target_seconds = target_seconds
        self.window = window
        self.segments: deque[HLSSegment] = deque(maxlen=keep)
        self.next_sequence = 0
        self.discontinuity_sequence = 0  # discontinuities that slid out of the playlist
        self.target_duration = max(1, math.ceil(target_seconds))
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hls-packager")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        try:
            seq = self._first_keyframe()
            while seq is None:
                if self.buffer.closed:
                    return
                await self.buffer.wait(self.buffer.next_seq, 1.0)
                seq = self._first_keyframe()
            parts: list[Chunk] = []
            start_clock: float | None = None
            gap = False
            while True:
                try:
                    chunks = self.buffer.read(seq)
                except ReaderBehind:
                    parts, start_clock, gap = [], None, True
                    newest = self.buffer.latest_keyframe_seq()
                    seq = newest if newest is not None else self.buffer.next_seq
                    continue
                if not chunks:
                    if self.buffer.closed:
                        return
                    await self.buffer.wait(seq, 5.0)
                    continue
                seq = chunks[-1].seq + 1
                for chunk in chunks:
                    if not parts and not chunk.keyframe:
                        continue  # a segment must start on a keyframe
                    if chunk.keyframe and parts:
                        duration = self._duration(parts, start_clock)
                        if duration >= self.target_seconds * 0.9:
                            self._add(parts, duration, gap)
                            start_clock, parts, gap = parts[-1].clock, [], False
                    parts.append(chunk)
        finally:
            self._notify()

    def _first_keyframe(self) -> int | None:
        for chunk in self.buffer.chunks:
            if chunk.keyframe:
                return chunk.seq
        return None

    @staticmethod
    def _duration(parts: list[Chunk], start_clock: float | None) -> float:
        clocks = [c.clock for c in parts if c.clock is not None]
        if not clocks:
            return 0.0
        begin = start_clock if start_clock is not None else clocks[0]
        return max(0.0, clocks[-1] - begin)

    def _add(self, parts: list[Chunk], duration: float, gap: bool) -> None:
        if len(self.segments) == self.segments.maxlen and self.segments[0].discontinuity:
            self.discontinuity_sequence += 1
        data = b"".join(c.data for c in parts)
        segment = HLSSegment(self.next_sequence, data, duration, gap and self.next_sequence > 0,
                             picture_span(data) if self.cues is not None else None)
        self.next_sequence += 1
        self.segments.append(segment)
        self.target_duration = max(self.target_duration, math.ceil(duration))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_segments(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` segments exist; False on timeout or a finished packager."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.segments) < count:
            remaining = deadline - loop.time()
            if remaining <= 0 or not self.running:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        return True

    async def segment(self, sequence: int, timeout: float) -> HLSSegment | None:
        """The segment ``sequence``; waits briefly for the one being cut right now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for seg in self.segments:
                if seg.sequence == sequence:
                    return seg
            remaining = deadline - loop.time()
            if sequence != self.next_sequence or remaining <= 0 or not self.running:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def subtitles(self, sequence: int) -> str | None:
        """The WebVTT file of segment ``sequence`` (None: no such segment or no cues)."""
        if self.cues is None:
            return None
        for seg in self.segments:
            if seg.sequence == sequence and seg.pictures is not None:
                return self.cues.segment(*seg.pictures)
        return None

    def playlist(self, subtitles: bool = False) -> str:
        """The live media playlist over the newest ``window`` segments (or the WebVTT
        rendition's, naming ``sub-K.vtt`` for each ``seg-K.ts``)."""
        shown = list(self.segments)[-self.window:]
        first = shown[0].sequence if shown else self.next_sequence
        hidden = [s for s in self.segments if s.sequence < first and s.discontinuity]
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence + len(hidden)}",
        ]
        for seg in shown:
            if seg.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXTINF:{seg.duration:.3f},")
            lines.append(f"sub-{seg.sequence}.vtt" if subtitles else seg.name)
        return "\n".join(lines) + "\n"


def master_playlist(media_uri: str, bandwidth: int, resolution: str | None,
                    subtitles: tuple[str, str] | None = None) -> str:
    """A one-variant master playlist pointing at the session's media playlist, with a
    WebVTT rendition when ``subtitles`` is (its playlist URI, its ISO 639-2 language)."""
    attrs = f"BANDWIDTH={bandwidth}"
    if resolution:
        attrs += f",RESOLUTION={resolution}"
    media = ""
    if subtitles is not None:
        uri, language = subtitles
        media = (f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{language}",'
                 f'LANGUAGE="{language}",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="{uri}"\n')
        attrs += ',SUBTITLES="subs"'
    return f"#EXTM3U\n#EXT-X-VERSION:3\n{media}#EXT-X-STREAM-INF:{attrs}\n{media_uri}\n"
