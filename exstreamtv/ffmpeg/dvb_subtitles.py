"""DVB subtitles as a stream of the channel (``subtitles.mode: stream``).

Every ffmpeg run of a channel must produce the same streams, or the spliced MPEG-TS
would change its program map between items. A channel in stream mode therefore always
sends one DVB subtitle stream: the item's image subtitles (PGS, DVD, DVB, XSUB) encoded
by ffmpeg's ``dvbsub`` encoder, and for an item without them (or an error screen) an
empty subtitle stream taken from :func:`blank_input`, a tiny MPEG-TS holding a program
map that announces one DVB subtitle stream and one empty display set at time 0 (which
also clears a subtitle still shown when the item begins).

Text subtitles (SRT, ASS, WebVTT) cannot become DVB subtitles with ffmpeg 5.1: its
``dvbsub`` encoder takes bitmaps only and ffmpeg refuses text-to-bitmap subtitle
encoding ("Subtitle encoding currently only possible from text to text or bitmap to
bitmap"); ffmpeg has no DVB teletext encoder either. Such items send the empty stream
from ffmpeg, and their cues, drawn by :mod:`exstreamtv.streaming.dvb_text`, are encoded
here (:func:`display_set`: a display definition, page, region, 4-bit CLUT and object
with run-length coded pixels, ETSI EN 300 743) into MPEG-TS packets
(:func:`subtitle_packets`) that the splicer puts beside ffmpeg's.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
import zlib
from dataclasses import dataclass

#: The elementary PID and composition page of the blank stream's subtitles.
_SUB_PID = 0x0100
_PMT_PID = 0x1000


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection, no final xor)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _section(table_id: int, extension: int, body: bytes) -> bytes:
    length = 5 + len(body) + 4
    head = bytes([table_id, 0xB0 | (length >> 8), length & 0xFF]) + struct.pack(">H", extension)
    section = head + bytes([0xC1, 0x00, 0x00]) + body
    return section + struct.pack(">I", crc32_mpeg2(section))


def _packet(pid: int, cc: int, section: bytes) -> bytes:
    payload = b"\x00" + section  # pointer field 0
    head = bytes([0x47, 0x40 | (pid >> 8), pid & 0xFF, 0x10 | (cc & 0x0F)])
    return head + payload + b"\xff" * (188 - 4 - len(payload))


def _empty_display_set() -> bytes:
    """One PES at PTS 0 with a DVB subtitle display set that shows nothing.

    The payload is stored as ffmpeg's demuxer hands DVB subtitle packets on (without the
    data identifier and end marker); it is stream-copied (``-c:s copy``, never decoded)
    and ffmpeg's muxer writes both around it, giving a standard PES.
    """
    # A page composition of page 1 without regions (time-out 30 s, version 1, mode
    # change), then the end of the display set.
    data = (bytes([0x0F, 0x10]) + struct.pack(">HH", 1, 2) + bytes([0x1E, 0x1B])
            + bytes([0x0F, 0x80]) + struct.pack(">HH", 1, 0))
    pts = bytes([0x21, 0x00, 0x01, 0x00, 0x01])  # '0010' + PTS 0 with its marker bits
    header = bytes([0x84, 0x80, len(pts)]) + pts  # data aligned, PTS only
    pes = b"\x00\x00\x01\xbd" + struct.pack(">H", len(header) + len(data)) + header + data
    head = bytes([0x47, 0x40 | (_SUB_PID >> 8), _SUB_PID & 0xFF, 0x30])
    stuffing = 188 - 4 - len(pes) - 2
    return head + bytes([stuffing + 1, 0x40]) + b"\xff" * stuffing + pes


def blank_stream_bytes(language: str = "und") -> bytes:
    """An MPEG-TS announcing one DVB subtitle stream in ``language`` with one empty
    display set at time 0."""
    lang = (language.encode("ascii", "replace") + b"und")[:3]
    pat = _section(0x00, 1, struct.pack(">HH", 1, 0xE000 | _PMT_PID))
    descriptor = bytes([0x59, 8]) + lang + bytes([0x10]) + struct.pack(">HH", 1, 1)
    stream = bytes([0x06]) + struct.pack(">HH", 0xE000 | _SUB_PID, 0xF000 | len(descriptor))
    pmt = _section(0x02, 1, struct.pack(">HH", 0xE000 | 0x1FFF, 0xF000) + stream + descriptor)
    tables = b"".join(_packet(0, cc, pat) + _packet(_PMT_PID, cc, pmt) for cc in range(4))
    return tables + _empty_display_set()


def blank_input(language: str = "und") -> str:
    """The path of the blank DVB subtitle stream file (written once per language)."""
    data = blank_stream_bytes(language)
    path = os.path.join(tempfile.gettempdir(), f"exstreamtv-blank-dvbsub-{zlib.crc32(data):08x}.ts")
    if not os.path.exists(path):
        fd, part = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(part, path)
    return path


# -- display sets of our own (text subtitles rendered to pictures) -----------------------

#: Segment types of ETSI EN 300 743 (DVB subtitling).
_PAGE, _REGION, _CLUT, _OBJECT, _DISPLAY, _END = 0x10, 0x11, 0x12, 0x13, 0x14, 0x80
_RUNS = re.compile(rb"(.)\1*", re.S)
#: The largest PES payload (its 16-bit length counts the header's 8 bytes too).
MAX_PES_DATA = 0xFFFF - 8


@dataclass(frozen=True)
class SubtitlePicture:
    """A picture of subtitles at ``(x, y)`` of the display: ``width * height`` colour
    indexes (0..15, row by row) into ``palette``, entries ``(Y, Cr, Cb, T)`` with T the
    transparency (0 opaque, 255 invisible; entry 0 is the transparent background)."""

    x: int
    y: int
    width: int
    height: int
    pixels: bytes
    palette: tuple[tuple[int, int, int, int], ...]


def _segment(kind: int, data: bytes, page: int = 1) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError(f"a subtitle segment of {len(data)} bytes is over the format's limit")
    return bytes([0x0F, kind]) + struct.pack(">HH", page, len(data)) + data


def _line_nibbles(row: bytes) -> list[int]:
    """One line as a 4-bit/pixel code string (EN 300 743, 7.2.5.2), as nibbles."""
    out: list[int] = []
    for match in _RUNS.finditer(row):
        colour, left = match.group()[0], len(match.group())
        while left:
            if left >= 25:
                n = min(left, 280)
                out += [0, 0b1111, (n - 25) >> 4, (n - 25) & 0xF, colour]
            elif left >= 9:
                n = left
                out += [0, 0b1110, n - 9, colour]
            elif left >= 4 or (colour == 0 and left == 3):
                n = min(left, 7) if colour else min(left, 9)
                out += [0, n - 2] if colour == 0 else [0, 0b1000 | (n - 4), colour]
            elif colour == 0:
                n = left  # one or two transparent pixels
                out += [0, 0b1100 | (n - 1)]
            else:
                n = 1
                out.append(colour)
            left -= n
    return [*out, 0, 0]  # end of string


def _field(picture: SubtitlePicture, first: int) -> bytes:
    """The pixel data of one field (every other line from ``first``)."""
    data = bytearray()
    w = picture.width
    for y in range(first, picture.height, 2):
        nibbles = _line_nibbles(picture.pixels[y * w:(y + 1) * w])
        if len(nibbles) % 2:
            nibbles.append(0)  # byte alignment
        data.append(0x11)  # 4-bit/pixel code string
        data += bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))
        data.append(0xF0)  # end of object line
    return bytes(data)


def display_set(picture: SubtitlePicture | None, display: tuple[int, int], version: int,
                timeout: int) -> bytes:
    """The segments of one display set: ``picture`` shown on a ``display`` (width,
    height) page for at most ``timeout`` seconds, or (None) an empty page that clears
    what was shown. ``version`` (0..15) must change from one display set to the next."""
    v = version & 0x0F
    width, height = display
    segments = _segment(_DISPLAY, bytes([(v << 4) | 0x07]) + struct.pack(">HH", width - 1, height - 1))
    page = bytes([max(1, min(timeout, 255)), (v << 4) | (2 << 2) | 0x03])  # mode change
    if picture is None:
        return segments + _segment(_PAGE, page) + _segment(_END, b"")
    page += bytes([0, 0xFF]) + struct.pack(">HH", picture.x, picture.y)
    region = (bytes([0, (v << 4) | 0x0F]) + struct.pack(">HH", picture.width, picture.height)
              + bytes([(2 << 5) | (2 << 2) | 0x03, 0, 0, 0x03])  # 4-bit, CLUT 0, fill with 0
              + struct.pack(">HHH", 0, 0, 0xF000))  # object 0, a bitmap at (0, 0) of the region
    clut = bytearray([0, (v << 4) | 0x0F])
    for index, (luma, cr, cb, t) in enumerate(picture.palette):
        clut += bytes([index, 0x5F, luma, cr, cb, t])  # 4-bit entry, full range
    top, bottom = _field(picture, 0), _field(picture, 1)
    obj = struct.pack(">HBHH", 0, (v << 4) | 0x01, len(top), len(bottom)) + top + bottom
    if len(obj) % 2:
        obj += b"\x00"
    return (segments + _segment(_PAGE, page) + _segment(_REGION, region)
            + _segment(_CLUT, bytes(clut)) + _segment(_OBJECT, obj) + _segment(_END, b""))


def _pts_field(pts: int) -> bytes:
    v = pts & ((1 << 33) - 1)
    return bytes([0x21 | ((v >> 29) & 0x0E), (v >> 22) & 0xFF, ((v >> 14) & 0xFE) | 1,
                  (v >> 7) & 0xFF, ((v << 1) & 0xFE) | 1])


def subtitle_packets(pid: int, pts: int, segments: bytes) -> bytes:
    """A display set as MPEG-TS packets of ``pid``: one PES (private stream 1, PTS
    ``pts`` in 90 kHz ticks). Continuity counters are left 0 for the splicer to set.

    Raises ValueError when the display set is too big for one PES.
    """
    data = b"\x20\x00" + segments + b"\xff"  # data identifier, stream id ... end marker
    if len(data) > MAX_PES_DATA:
        raise ValueError(f"a subtitle display set of {len(data)} bytes is over one PES")
    header = bytes([0x84, 0x80, 5]) + _pts_field(pts)  # data aligned, PTS only
    pes = b"\x00\x00\x01\xbd" + struct.pack(">H", len(header) + len(data)) + header + data
    out = bytearray()
    for at in range(0, len(pes), 184):
        chunk = pes[at:at + 184]
        start = 0x40 if at == 0 else 0
        head = bytes([0x47, start | (pid >> 8), pid & 0xFF])
        if len(chunk) == 184:
            out += head + b"\x10" + chunk
        else:
            stuffing = 183 - len(chunk)
            field = bytes([stuffing]) + (b"\x00" + b"\xff" * (stuffing - 1) if stuffing else b"")
            out += head + b"\x30" + field + chunk
    return bytes(out)
