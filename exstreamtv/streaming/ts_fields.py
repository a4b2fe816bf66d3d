"""The fields of MPEG-TS packets, read and written in place: 33-bit PTS/DTS and 42-bit PCR
timestamps, a packet's payload start, a PES's DTS, the AAC frames of an ADTS PES and the
descriptor tags of a PSI section. Pure functions over one 188-byte packet; no state.
"""

from __future__ import annotations

PACKET_SIZE = 188
SYNC_BYTE = 0x47
MASK33 = (1 << 33) - 1
PCR_HZ = 27_000_000
PTS_HZ = 90_000
#: PES stream ids without the optional header (program stream map, padding, private 2, ECM...).
NO_PES_HEADER = frozenset({0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF})


def read_pts(b: bytearray | bytes, i: int) -> int:
    return (
        (((b[i] >> 1) & 0x07) << 30)
        | (b[i + 1] << 22)
        | ((b[i + 2] >> 1) << 15)
        | (b[i + 3] << 7)
        | (b[i + 4] >> 1)
    )


def write_pts(b: bytearray, i: int, value: int) -> None:
    v = value & MASK33
    b[i] = (b[i] & 0xF0) | ((v >> 29) & 0x0E) | 1
    b[i + 1] = (v >> 22) & 0xFF
    b[i + 2] = ((v >> 14) & 0xFE) | 1
    b[i + 3] = (v >> 7) & 0xFF
    b[i + 4] = ((v << 1) & 0xFE) | 1


def read_pcr(b: bytearray | bytes, i: int) -> int:
    base = (b[i] << 25) | (b[i + 1] << 17) | (b[i + 2] << 9) | (b[i + 3] << 1) | (b[i + 4] >> 7)
    ext = ((b[i + 4] & 1) << 8) | b[i + 5]
    return base * 300 + ext


def write_pcr(b: bytearray, i: int, value: int) -> None:
    base = (value // 300) & MASK33
    ext = value % 300
    b[i] = (base >> 25) & 0xFF
    b[i + 1] = (base >> 17) & 0xFF
    b[i + 2] = (base >> 9) & 0xFF
    b[i + 3] = (base >> 1) & 0xFF
    b[i + 4] = ((base & 1) << 7) | 0x7E | (ext >> 8)
    b[i + 5] = ext & 0xFF


def unwrap(value: int, reference: int) -> int:
    """The unwrapped 33-bit timestamp closest to ``reference``."""
    period = 1 << 33
    candidate = reference - (reference % period) + value
    if candidate - reference > period // 2:
        candidate -= period
    elif reference - candidate > period // 2:
        candidate += period
    return candidate


def descriptor_tags(pkt: bytearray, start: int, end: int) -> set[int]:
    """The tags of the descriptors in ``pkt[start:end]``."""
    tags = set()
    while start + 2 <= end:
        tags.add(pkt[start])
        start += 2 + pkt[start + 1]
    return tags


def payload_start(pkt: bytearray) -> int | None:
    afc = (pkt[3] >> 4) & 0x3
    if not afc & 0x1:
        return None
    return 5 + pkt[4] if afc & 0x2 else 4


def pes_dts(pkt: bytearray, start: int) -> int | None:
    if start + 14 > PACKET_SIZE or pkt[start : start + 3] != b"\x00\x00\x01":
        return None
    if pkt[start + 3] in NO_PES_HEADER:
        return None
    flags = pkt[start + 7] >> 6
    if flags == 3 and start + 19 <= PACKET_SIZE:
        return read_pts(pkt, start + 14)
    if flags == 2:
        return read_pts(pkt, start + 9)
    return None


ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
               8000, 7350)


def adts_frames(pkt: bytearray, start: int) -> tuple[int | None, int | None]:
    """(AAC frames in the PES starting at ``start``, 90 kHz ticks per frame).

    The count is None when it cannot be read from this packet alone (not ADTS, or a
    PES of several frames that goes on in the next packets).
    """
    pes_length = (pkt[start + 4] << 8) | pkt[start + 5]
    es = start + 9 + pkt[start + 8]
    if pes_length == 0 or es + 7 > PACKET_SIZE:
        return None, None
    payload = pes_length - 3 - pkt[start + 8]
    if pkt[es] != 0xFF or pkt[es + 1] & 0xF0 != 0xF0:
        return None, None
    index = (pkt[es + 2] >> 2) & 0x0F
    if index >= len(ADTS_RATES):
        return None, None
    tick = 1024 * PTS_HZ // ADTS_RATES[index]
    frames, at, end = 0, es, es + payload
    if end > PACKET_SIZE:
        first = ((pkt[es + 3] & 0x03) << 11) | (pkt[es + 4] << 3) | (pkt[es + 5] >> 5)
        return (1 if first == payload else None), tick
    while at + 7 <= end:
        if pkt[at] != 0xFF or pkt[at + 1] & 0xF0 != 0xF0:
            return None, tick
        length = ((pkt[at + 3] & 0x03) << 11) | (pkt[at + 4] << 3) | (pkt[at + 5] >> 5)
        if length < 7:
            return None, tick
        frames += (pkt[at + 6] & 0x03) + 1
        at += length
    return (frames if at == end else None), tick
