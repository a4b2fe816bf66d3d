"""Text subtitles sent as DVB subtitles: cues drawn as pictures and put into the channel's
MPEG-TS beside what ffmpeg writes.

ffmpeg 5.1 cannot turn text subtitles into DVB subtitles (its ``dvbsub`` encoder takes
bitmaps; see :mod:`exstreamtv.ffmpeg.dvb_subtitles`). So for an item whose chosen
subtitles are text, ffmpeg sends the blank DVB subtitle stream and this module does the
rest: the item's cues (read by :func:`~exstreamtv.streaming.webvtt.extract_cues`, the
same reading the HLS WebVTT rendition uses) become *screens* (the text shown between two
changes; overlapping cues are shown together), each screen is drawn with Pillow (white
letters with a black outline, centred near the bottom, wrapped to the picture's width,
each letter in a font that has it: :mod:`.fonts`)
into a 4-bit picture and encoded as one DVB display set, and the pipeline hands the
packets to the splicer about a second before the screen's time on the output clock.

Drawing is done in a worker thread, in batches, at most :data:`HORIZON` seconds ahead
of the output, so a two-hour film's cues cost a little CPU all along rather than a burst
at its start. A screen whose time has passed before it was drawn (a busy machine) is
skipped; a clearing is never sent before its screen.
"""

from __future__ import annotations

import asyncio
import heapq
import html
import itertools
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from PIL import Image, ImageChops, ImageDraw

from exstreamtv.ffmpeg.dvb_subtitles import SubtitlePicture, display_set, subtitle_packets
from exstreamtv.streaming import fonts
from exstreamtv.streaming.ts_fields import PTS_HZ, payload_start, write_pts
from exstreamtv.streaming.webvtt import Cue

log = logging.getLogger(__name__)

#: Seconds before its time that a display set goes into the stream.
LEAD = 1.0
#: How far ahead of the output screens are drawn.
HORIZON = 60.0
#: Seconds kept between a drawn display set and an item's first and last picture.
FRAME = 0.04
#: How far ahead of the output clock (the PCR) a late display set is put.
LATE_MARGIN = 0.1
#: How far before an item's first picture its blank display set may lie.
ITEM_SLACK = 0.5
_BATCH = 20
#: An item's screens that begin in its first this many seconds are drawn as soon as its
#: ffmpeg starts (a few seconds before it airs), at most :data:`EARLY_SCREENS` of them.
EARLY_SECONDS = 10.0
EARLY_SCREENS = 4
#: Pictures drawn early and not yet used (an item prepared and then not played).
_EARLY_KEPT = 16
_TAGS = re.compile(r"</?[a-zA-Z][^>]*>|\{\\[^}]*\}")
#: Luma of the letters' fill, a mid tone for their anti-aliased edge, and the outline.
_GREYS = (16, 126, 235)
#: Opacities an index can have (of 255), beside fully transparent.
_ALPHAS = (64, 128, 191, 255)


@dataclass(frozen=True)
class Screen:
    """What is shown from ``start`` to ``end`` (output seconds), of the item whose first
    picture is at ``base``."""

    start: float
    end: float
    text: str
    base: float = 0.0


def screens(cues: Iterable[Cue]) -> list[Screen]:
    """The screens ``cues`` make: one per span of time in which the set of cues shown does
    not change (overlapping cues share a screen, in the order they began)."""
    texts = sorted(((c.start, c.end, plain_text(c.text)) for c in cues if c.end > c.start),
                   key=lambda c: (c[0], c[1]))
    texts = [c for c in texts if c[2]]
    points = sorted({t for c in texts for t in (c[0], c[1])})
    out: list[Screen] = []
    active: list[tuple[float, float, str]] = []
    following = 0
    for a, b in itertools.pairwise(points):
        while following < len(texts) and texts[following][0] <= a:
            active.append(texts[following])
            following += 1
        active = [c for c in active if c[1] > a]  # each ends at a point, so at b or later
        if not active:
            continue
        text = "\n".join(c[2] for c in active)
        if out and out[-1].text == text and abs(out[-1].end - a) < 1e-6:
            out[-1] = Screen(out[-1].start, b, text)
        else:
            out.append(Screen(a, b, text))
    return out


def plain_text(text: str) -> str:
    """Cue text without markup (WebVTT tags, ASS override blocks) or blank lines."""
    text = html.unescape(_TAGS.sub("", text.replace("\\N", "\n")))
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def _wrap(line: str, size: int, limit: float) -> list[str]:
    """``line`` in lines of at most ``limit`` pixels: broken at spaces, and a word too long
    for a line (text written without spaces: Chinese, Japanese) between letters."""
    lines, current = [], ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if not current or fonts.length(candidate, size) <= limit:
            current = candidate
        else:
            lines.append(current)
            current = word
        while len(current) > 1 and fonts.length(current, size) > limit:
            cut = _fits(current, size, limit)
            lines.append(current[:cut])
            current = current[cut:].lstrip(" ")
    return [*lines, current]


def _fits(text: str, size: int, limit: float) -> int:
    """How many of ``text``'s first letters fit in ``limit`` pixels (at least one)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if fonts.length(text[:middle], size) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _palette() -> tuple[tuple[int, int, int, int], ...]:
    entries = [(0, 128, 128, 255)]  # transparent background
    for alpha in _ALPHAS:
        entries += [(grey, 128, 128, 255 - alpha) for grey in _GREYS]
    return tuple(entries)


PALETTE = _palette()
# RGBA -> palette index with Pillow's per-pixel tables: grey level (0..2) plus three
# times the opacity level (0 transparent, 3..12), then transparent ones folded to 0.
_GREY_LEVEL = [min(2, (v * 3) // 256) for v in range(256)]
_ALPHA_LEVEL = [0 if v < 32 else 3 * (1 + min(3, (v - 32) * 4 // 224)) for v in range(256)]
_INDEX = [0 if v < 3 else v - 2 for v in range(256)]


def render(text: str, display: tuple[int, int]) -> SubtitlePicture | None:
    """``text`` drawn for a ``display`` of (width, height): centred near the bottom,
    lines wrapped to 90% of the width. None when there is nothing to draw."""
    width, height = display
    size = max(12, round(height * 0.055))
    stroke = max(1, round(size / 14))
    lines = [part for line in text.split("\n") for part in _wrap(line, size, width * 0.9)]
    lines = [line for line in lines if line][-6:]  # a runaway cue keeps its last lines
    if not lines:
        return None
    step = round(size * 1.25) + 2 * stroke
    canvas = Image.new("RGBA", (width, step * len(lines) + 4 * stroke), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    top = stroke * 2 + fonts.ascent(size)
    for i, line in enumerate(lines):
        fonts.draw_line(draw, width / 2, top + i * step, line, size, stroke)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    canvas = canvas.crop(box)
    grey = canvas.getchannel("R").point(_GREY_LEVEL)
    alpha = canvas.getchannel("A").point(_ALPHA_LEVEL)
    pixels = ImageChops.add(alpha, grey).point(_INDEX).tobytes()
    h = bottom - top
    y = max(0, height - round(height * 0.06) - h)
    return SubtitlePicture(left, y, right - left, h, pixels, PALETTE)


def _restamp(packets: bytes, at: float) -> bytes:
    """``packets`` (one PES) with its PTS set to ``at`` seconds."""
    out = bytearray(packets)
    start = payload_start(out)
    if start is not None:
        write_pts(out, start + 9, round(at * PTS_HZ))
    return bytes(out)


@dataclass(order=True)
class _Due:
    at: float  # output seconds the display set is for
    order: int
    base: float = field(compare=False)  # where its item begins
    packets: bytes = field(compare=False)
    ends: float | None = field(compare=False, default=None)  # a screen: when it is over


class DvbTextTrack:
    """A channel's text cues as DVB display sets, handed out as the output reaches them.

    ``clock`` gives the output position (seconds; None before the first output), ``pid``
    the DVB subtitle stream's, ``seen`` where ffmpeg's own display sets of that stream
    have reached (an item's blank one at its start): an item's drawn subtitles follow it.
    """

    def __init__(self, clock: Callable[[], float | None], pid: Callable[[], int | None],
                 seen: Callable[[], float | None]) -> None:
        self.display = (1280, 720)
        self.clock = clock
        self.pid = pid
        self.seen = seen
        self._waiting: list[Screen] = []  # not drawn yet, by start
        self._due: list[_Due] = []
        self._order = 0
        self._version = 0
        self._drawing: asyncio.Task[None] | None = None
        self._queued_until = 0.0  # where the last screen queued ends
        self._last_at = 0.0  # the time of the last display set made
        self._sent_at = 0.0  # the time of the last display set handed out
        #: Pictures of the screens drawn before their item airs, by (text, display).
        self._early: dict[tuple[str, tuple[int, int]], SubtitlePicture | None] = {}
        self._predrawing: set[asyncio.Future[None]] = set()
        self.skipped = 0

    def prepare(self, reading: asyncio.Task[list[Cue]], display: tuple[int, int]) -> None:
        """An item's ffmpeg has started: once its cues are read, draw the screens of its
        first seconds now, so that they are ready when it airs, however busy the machine."""
        def done(task: asyncio.Task[list[Cue]]) -> None:
            if task.cancelled() or task.exception() is not None:
                return
            texts = [screen.text for screen in screens(task.result())
                     if screen.start < EARLY_SECONDS][:EARLY_SCREENS]
            if texts:
                drawing = asyncio.ensure_future(asyncio.to_thread(self._draw_early, texts,
                                                                  display))
                self._predrawing.add(drawing)
                drawing.add_done_callback(self._predrawing.discard)
        reading.add_done_callback(done)

    def _draw_early(self, texts: list[str], display: tuple[int, int]) -> None:
        for text in texts:
            self._early[(text, display)] = render(text, display)
            while len(self._early) > _EARLY_KEPT:
                self._early.pop(next(iter(self._early)))

    def place(self, reading: asyncio.Task[list[Cue]], base: float, limit: float,
              display: tuple[int, int]) -> None:
        """Send the cues ``reading`` gives, once it has, for an item shown from ``base``
        on a picture of ``display`` (width, height)."""
        self.display = display

        def done(task: asyncio.Task[list[Cue]]) -> None:
            if not task.cancelled() and task.exception() is None:
                self.add(task.result(), base, limit)
        reading.add_done_callback(done)

    def add(self, cues: list[Cue], base: float, limit: float) -> None:
        """Cues timed from an item's first picture, shown at ``base`` output seconds;
        none past ``limit`` seconds of the item."""
        # A frame inside the item at both ends: the item's own blank display set (at its
        # first picture) and the next one's must not share a PTS with ours, or a parser
        # takes the second for the rest of the first (ffmpeg's does, and a recording of
        # the stream ends up with a broken subtitle packet).
        first, last = FRAME, limit - FRAME
        placed = [Cue(base + max(c.start, first), base + min(c.end, last), c.text)
                  for c in cues if max(c.start, first) < min(c.end, last)]
        # Screens already queued win: an item placed again (resumed after a restart)
        # must not send its cues twice.
        drawn = [replace(screen, base=base) for screen in screens(placed)
                 if screen.start >= self._queued_until]
        if drawn:
            self._queued_until = max(self._queued_until, drawn[-1].end)
        self._waiting = sorted([*self._waiting, *drawn], key=lambda s: s.start)
        if self._waiting and (self._drawing is None or self._drawing.done()):
            self._drawing = asyncio.get_running_loop().create_task(self._draw(),
                                                                   name="dvb-text-subtitles")

    def cut(self, at: float) -> None:
        """The item on air ended at ``at`` output seconds: nothing of it after that."""
        self._waiting = [s for s in self._waiting if s.start < at]
        self._waiting = [replace(s, end=min(s.end, at)) for s in self._waiting]
        self._due = [d for d in self._due if d.at < at + 0.001]
        heapq.heapify(self._due)
        self._queued_until = min(self._queued_until, at)

    def stop(self) -> None:
        if self._drawing is not None:
            self._drawing.cancel()
        for drawing in list(self._predrawing):
            drawing.cancel()
        self._early.clear()
        self._waiting, self._due = [], []
        self._queued_until = self._last_at = self._sent_at = 0.0

    def due(self) -> list[bytes]:
        """The display sets whose time is within :data:`LEAD` of the output clock, once
        their item's own first display set has gone out (so they come after it)."""
        now, seen = self.clock(), self.seen()
        out: list[bytes] = []
        while self._due and now is not None and self._due[0].at - LEAD <= now:
            if seen is None or seen < self._due[0].base - ITEM_SLACK:
                break
            due = heapq.heappop(self._due)
            if seen > due.base + ITEM_SLACK and due.at <= seen:
                continue  # the next item has begun: this one's subtitles are stale
            # After the item's own display set, a frame apart from every other (a parser
            # takes two display sets at one PTS for one: ffmpeg's does, and a recording
            # of the stream gets a broken subtitle packet), and not behind the clock
            # (ffmpeg's demuxer moves a DVB subtitle behind the PCR onto the PCR, which
            # would put a late screen and its clearing at one PTS).
            floor = max(seen + FRAME, self._sent_at + FRAME, now + LATE_MARGIN)
            if due.ends is not None and due.ends <= floor:
                self.skipped += 1
                continue  # drawn too late to be seen at all
            at = max(due.at, floor)
            self._sent_at = at
            out.append(due.packets if at == due.at else _restamp(due.packets, at))
        return out

    async def _draw(self) -> None:
        while self._waiting:
            now = self.clock()
            pid = self.pid()
            if now is None or pid is None or self._waiting[0].start > now + HORIZON:
                await asyncio.sleep(1.0)
                continue
            batch, self._waiting = self._waiting[:_BATCH], self._waiting[_BATCH:]
            late = [s for s in batch if s.end <= now]
            self.skipped += len(late)
            batch = [s for s in batch if s.end > now]
            following = self._waiting[0].start if self._waiting else None
            try:
                drawn = await asyncio.to_thread(self._encode, batch, pid, following)
            except Exception:
                log.exception("Drawing text subtitles failed; %d screens not sent", len(batch))
                continue
            for at, base, packets, ends in drawn:
                self._order += 1
                heapq.heappush(self._due, _Due(at, self._order, base, packets, ends))

    def _encode(self, batch: list[Screen], pid: int,
                after: float | None) -> list[tuple[float, float, bytes, float | None]]:
        """Display sets for ``batch``: each screen, and a clearing where no screen
        follows at once (``after``: when the screen after the batch starts). Runs in a
        worker thread."""
        out: list[tuple[float, float, bytes, float | None]] = []
        for i, screen in enumerate(batch):
            following = batch[i + 1].start if i + 1 < len(batch) else after
            # Display sets a frame apart at least: two at one PTS are taken for one.
            start = max(screen.start, self._last_at + FRAME)
            if screen.end - start < FRAME:
                continue
            try:
                picture = self._early.pop((screen.text, self.display))
            except KeyError:  # not drawn early (or already used)
                picture = render(screen.text, self.display)
            timeout = int(screen.end - start) + 5
            try:
                if picture is not None:
                    out.append((start, screen.base, self._packets(pid, start, picture, timeout),
                                screen.end))
                    self._last_at = start
                if following is None or following - screen.end > FRAME:
                    out.append((screen.end, screen.base, self._packets(pid, screen.end, None, 1),
                                None))
                    self._last_at = screen.end
            except ValueError as exc:
                log.warning("Text subtitle at %.1fs not sent: %s", screen.start, exc)
        return out

    def _packets(self, pid: int, at: float, picture: SubtitlePicture | None, timeout: int) -> bytes:
        # Versions 2..15 in turn: a decoder ignores a page whose version it has just
        # seen, and the blank stream at each item's start uses 1.
        self._version = (self._version + 1) % 14
        return subtitle_packets(pid, round(at * 90_000),
                                display_set(picture, self.display, 2 + self._version, timeout))
