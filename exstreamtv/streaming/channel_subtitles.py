"""A channel's text subtitles in ``subtitles.mode: stream``: the cues of each item, read
once when its ffmpeg starts, go to HLS viewers as WebVTT
(:class:`~exstreamtv.streaming.webvtt.CueTrack`) and, for an item whose chosen subtitles
are text, are drawn as the channel's DVB subtitles
(:class:`~exstreamtv.streaming.dvb_text.DvbTextTrack`), put into the MPEG-TS beside
ffmpeg's packets."""

from __future__ import annotations

import asyncio

from exstreamtv.streaming.dvb_text import DvbTextTrack
from exstreamtv.streaming.planner import Plan
from exstreamtv.streaming.ts import Piece, TSSplicer
from exstreamtv.streaming.webvtt import Cue, CueTrack


class ChannelSubtitles:
    """The WebVTT and drawn DVB subtitles of one channel's output."""

    def __init__(self, ffmpeg: str, splicer: TSSplicer) -> None:
        self.splicer = splicer
        self.webvtt = CueTrack(ffmpeg)
        self.drawn = DvbTextTrack(lambda: splicer.clock_seconds,
                                  lambda: splicer.dvb_subtitle_pid,
                                  lambda: splicer.subtitle_seconds)

    def read(self, plan: Plan, display: tuple[int, int]) -> asyncio.Task[list[Cue]] | None:
        """Start reading the cues of ``plan``'s item (when its ffmpeg starts), if it has any;
        its first screens are drawn (on ``display``) as soon as they are read."""
        if plan.cue_source is None:
            return None
        reading = self.webvtt.read(plan.cue_source)
        if plan.dvb_text:
            self.drawn.prepare(reading, display)
        return reading

    def place(self, reading: asyncio.Task[list[Cue]], plan: Plan, base: float, limit: float,
              display: tuple[int, int]) -> None:
        """The item is on the output from ``base`` seconds for at most ``limit``: its cues
        go there once read (drawn on a ``display`` of width, height when the plan says)."""
        self.webvtt.place(reading, base, limit)
        if plan.dvb_text:
            self.drawn.place(reading, base, limit, display)

    def pieces(self) -> list[Piece]:
        """Drawn subtitles whose time is near, as output pieces."""
        return [Piece(self.splicer.inject(packets), False, self.splicer.clock_seconds)
                for packets in self.drawn.due()]

    def cut(self) -> None:
        """The item on air ended where the output now ends: none of its subtitles after."""
        if self.splicer.end_seconds is not None:
            self.drawn.cut(self.splicer.end_seconds)

    def stop(self) -> None:
        self.drawn.stop()
