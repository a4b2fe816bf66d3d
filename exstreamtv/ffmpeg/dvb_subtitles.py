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
bitmap"); ffmpeg has no DVB teletext encoder either. Such items send the empty stream.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib

#: The elementary PID and composition page of the blank stream's subtitles.
_SUB_PID = 0x0100
_PMT_PID = 0x1000


def _crc32_mpeg(data: bytes) -> int:
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
    return section + struct.pack(">I", _crc32_mpeg(section))


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
