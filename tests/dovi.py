"""Dolby Vision signalling written into ordinary HEVC files, for test media.

Two pure byte transforms, no I/O:

- :func:`add_rpus` appends one RPU NAL unit (HEVC NAL type 62, ``UNSPEC62``) to every
  access unit of an Annex B stream, where Dolby Vision puts it: after the picture's
  last slice. The RPU (:func:`rpu`) is a real one of ``rpu_type`` 2, as ffmpeg 5.1's
  ``ff_dovi_rpu_parse`` reads it (libavcodec/dovi_rpu.c): sequence info, identity
  reshaping curves (one linear piece per component), no NLQ (``disable_residual_flag``),
  and display-management metadata (the BT.2020 YCbCr-to-RGB and RGB-to-LMS matrices),
  followed by ``num_ext_blocks`` 0, the CRC-32/MPEG-2 and the 0x80 terminator.
- :func:`add_dovi_box` adds the DOVI decoder configuration record to the first HEVC
  sample entry of an MP4 (``dvcC`` up to profile 7, ``dvvC`` for 8 and above), which
  ffmpeg's mov demuxer reads with ``ff_isom_parse_dvcc_dvvc`` (libavformat/dovi_isom.c)
  into the stream's "DOVI configuration record" side data. Only ``moov`` grows, so the
  file's ``moov`` must follow its ``mdat`` (ffmpeg's default) and chunk offsets stay valid.

Invariants: every access unit gets exactly one RPU, last; NAL payloads are escaped
(emulation prevention) like any other NAL unit; every box enclosing the sample entry
has its size updated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from exstreamtv.ffmpeg.dvb_subtitles import crc32_mpeg2

START_CODE = b"\x00\x00\x00\x01"
#: NAL header of an RPU: nal_unit_type 62, nuh_layer_id 0, nuh_temporal_id_plus1 1.
RPU_NAL_HEADER = bytes([62 << 1, 0x01])
#: HEVC NAL types of the slices of a picture (VCL: 0-31).
_VCL_TYPES = range(32)
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
_HEVC_ENTRIES = (b"hvc1", b"hev1", b"dvh1", b"dvhe")


@dataclass(frozen=True)
class DoviConfig:
    """The fields of a DOVI decoder configuration record (version 1.0)."""

    profile: int
    level: int
    compatibility_id: int
    rpu: bool = True
    el: bool = False
    bl: bool = True

    def record(self) -> bytes:
        """The 24-byte record (``ff_isom_put_dvcc_dvvc``'s layout)."""
        bits = (self.profile << 9) | (self.level << 3) | (self.rpu << 2) | (self.el << 1) | self.bl
        return bytes([1, 0]) + struct.pack(">HB", bits, self.compatibility_id << 4) + bytes(19)

    def box(self) -> bytes:
        """The record as an MP4 box: ``dvcC`` (profiles up to 7) or ``dvvC``."""
        kind = b"dvcC" if self.profile <= 7 else b"dvvC"
        return _box(kind, self.record())


class BitWriter:
    """MSB-first bits, with the Exp-Golomb codes of H.265 (``ue(v)``, ``se(v)``)."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        """``value`` in ``n`` bits (two's complement if negative)."""
        value &= (1 << n) - 1
        self.bits += [(value >> i) & 1 for i in range(n - 1, -1, -1)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align(self) -> None:
        while len(self.bits) % 8:
            self.bits.append(0)

    def tobytes(self) -> bytes:
        self.align()
        return bytes(int("".join(map(str, self.bits[i:i + 8])), 2)
                     for i in range(0, len(self.bits), 8))


#: BT.2020 YCbCr (limited range) to RGB, 1/8192 units, and the offsets, 1/2^28 units.
_YCC_TO_RGB = (9575, 0, 13802, 9575, -1540, -5348, 9575, 17610, 0)
_YCC_OFFSETS = (1 << 24, 1 << 27, 1 << 27)
#: RGB to LMS (Dolby's IPT crosstalk matrix), 1/16384 units.
_RGB_TO_LMS = (7222, 8771, 390, 2654, 12430, 1300, 0, 422, 15962)
_COEF_LOG2_DENOM = 23


def rpu(profile: int, bl_bit_depth: int = 10, first: bool = True) -> bytes:
    """One RPU's payload (after the NAL header, unescaped): identity reshaping.

    Profile 5 marks the base layer full range (IPTPQc2 is), as ffmpeg's profile guess
    expects; the others limited range. ``first`` sets ``scene_refresh_flag``.
    """
    w = BitWriter()
    w.u(8, 25)                    # prefix
    w.u(6, 2)                     # rpu_type
    w.u(11, 18)                   # rpu_format (0x700 bits clear: bit depths follow)
    w.u(4, 1)                     # vdr_rpu_profile
    w.u(4, 0)                     # vdr_rpu_level
    w.u(1, 1)                     # vdr_seq_info_present_flag
    w.u(1, 0)                     # chroma_resampling_explicit_filter_flag
    w.u(2, 0)                     # coef_data_type: fixed point
    w.ue(_COEF_LOG2_DENOM)
    w.u(2, 1)                     # vdr_rpu_normalized_idc
    w.u(1, profile == 5)          # bl_video_full_range_flag
    w.ue(bl_bit_depth - 8)        # bl_bit_depth_minus8
    w.ue(bl_bit_depth - 8)        # el_bit_depth_minus8
    w.ue(4)                       # vdr_bit_depth_minus8 (12-bit)
    w.u(1, 0)                     # spatial_resampling_filter_flag
    w.u(3, 0)                     # reserved_zero_3bits
    w.u(1, 0)                     # el_spatial_resampling_filter_flag
    w.u(1, 1)                     # disable_residual_flag: no NLQ
    w.u(1, 1)                     # vdr_dm_metadata_present_flag
    w.u(1, 0)                     # use_prev_vdr_rpu_flag
    w.ue(0)                       # vdr_rpu_id
    w.ue(0)                       # mapping_color_space
    w.ue(0)                       # mapping_chroma_format_idc
    top = (1 << bl_bit_depth) - 1
    for _component in range(3):
        w.ue(0)                   # num_pivots_minus2: one piece
        w.u(bl_bit_depth, 0)      # pivot 0
        w.u(bl_bit_depth, top)    # pivot 1 (a delta)
    w.ue(0)                       # num_x_partitions_minus1
    w.ue(0)                       # num_y_partitions_minus1
    for _component in range(3):
        w.ue(0)                   # mapping_idc: polynomial
        w.ue(0)                   # poly_order_minus1: linear
        w.u(1, 0)                 # linear_interp_flag
        for coefficient in (0, 1):  # y = 0 + 1 * x
            w.se(coefficient)
            w.u(_COEF_LOG2_DENOM, 0)
    w.ue(0)                       # affected_dm_metadata_id
    w.ue(0)                       # current_dm_metadata_id
    w.ue(1 if first else 0)       # scene_refresh_flag
    for value in _YCC_TO_RGB:
        w.u(16, value)
    for value in _YCC_OFFSETS:
        w.u(32, value)
    for value in _RGB_TO_LMS:
        w.u(16, value)
    w.u(16, 65535)                # signal_eotf
    w.u(16, 0)                    # signal_eotf_param0
    w.u(16, 0)                    # signal_eotf_param1
    w.u(32, 0)                    # signal_eotf_param2
    w.u(5, 12)                    # signal_bit_depth
    w.u(2, 0)                     # signal_color_space: YCbCr
    w.u(2, 0)                     # signal_chroma_format
    w.u(2, 1)                     # signal_full_range_flag
    w.u(12, 62)                   # source_min_pq
    w.u(12, 3079)                 # source_max_pq (1000 nits)
    w.u(10, 42)                   # source_diagonal (inches)
    w.ue(0)                       # num_ext_blocks
    body = w.tobytes()
    return body + struct.pack(">I", crc32_mpeg2(body[1:])) + b"\x80"


def escape(payload: bytes) -> bytes:
    """Emulation prevention: a 0x03 after two zero bytes followed by 0x00-0x03."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def nal_units(stream: bytes) -> list[bytes]:
    """The NAL units of an Annex B stream (start codes and trailing zeros removed)."""
    starts: list[int] = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = stream.find(b"\x00\x00\x01", i + 3)
    units = []
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(stream)
        units.append(stream[start:end].rstrip(b"\x00"))
    return units


def _first_slice(unit: bytes) -> bool:
    """A slice NAL unit that starts a picture (``first_slice_segment_in_pic_flag``)."""
    return ((unit[0] >> 1) & 0x3F) in _VCL_TYPES and bool(unit[2] & 0x80)


def add_rpus(stream: bytes, profile: int, bl_bit_depth: int = 10) -> bytes:
    """``stream`` (Annex B HEVC) with an RPU NAL unit ending every access unit."""
    units = nal_units(stream)
    out = bytearray()
    in_picture = False
    pictures = 0

    def end_picture() -> None:
        nonlocal pictures
        out.extend(START_CODE + RPU_NAL_HEADER + escape(rpu(profile, bl_bit_depth, pictures == 0)))
        pictures += 1

    for unit in units:
        kind = (unit[0] >> 1) & 0x3F
        starts_access_unit = _first_slice(unit) or kind in (32, 33, 34, 35, 39)  # VPS..AUD, SEI
        if in_picture and starts_access_unit:
            end_picture()
            in_picture = False
        out.extend(START_CODE + unit)
        if kind in _VCL_TYPES:
            in_picture = True
    if in_picture:
        end_picture()
    return bytes(out)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of the boxes between ``start`` and ``end``."""
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        if size < 8:
            raise ValueError(f"unsupported box size {size} at {start}")
        found.append((start, size, kind))
        start += size
    return found


def add_dovi_box(mp4: bytes, config: DoviConfig, entry: bytes | None = None) -> bytes:
    """``mp4`` with ``config``'s box in its first HEVC sample entry; ``entry`` renames
    that entry (``dvh1`` for a profile 5 file, which has no backward-compatible base)."""
    data = bytearray(mp4)
    top = {kind: (offset, size) for offset, size, kind in _children(data, 0, len(data))}
    if top[b"moov"][0] < top[b"mdat"][0]:
        raise ValueError("moov before mdat: adding a box would move the media data")
    path: list[int] = []  # offsets of the boxes enclosing the sample entry
    offset, size = top[b"moov"]
    while True:
        path.append(offset)
        header = 8 + (8 if data[offset + 4:offset + 8] == b"stsd" else 0)
        inside = _children(data, offset + header, offset + size)
        hevc = [(o, s) for o, s, k in inside if k in _HEVC_ENTRIES]
        if hevc:
            entry_offset, entry_size = hevc[0]
            break
        nested = [(o, s, k) for o, s, k in inside if k in (*_CONTAINERS, b"stsd")]
        tracks = [(o, s) for o, s, k in nested
                  if k != b"trak" or any(x in data[o:o + s] for x in _HEVC_ENTRIES)]
        if not tracks:
            raise ValueError("no HEVC sample entry in the file")
        offset, size = tracks[0]
    box = config.box()
    insert_at = entry_offset + entry_size
    for enclosing in [*path, entry_offset]:
        (old,) = struct.unpack(">I", data[enclosing:enclosing + 4])
        data[enclosing:enclosing + 4] = struct.pack(">I", old + len(box))
    if entry is not None:
        data[entry_offset + 4:entry_offset + 8] = entry
    data[insert_at:insert_at] = box
    return bytes(data)
