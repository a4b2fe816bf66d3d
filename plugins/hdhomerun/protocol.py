"""The HDHomeRun discovery packet format (UDP port 65001), as libhdhomerun defines it.

A packet is ``type`` (u16, big-endian), ``payload length`` (u16, big-endian), the
payload, then an Ethernet CRC-32 of everything before it (u32, *little*-endian). A
discovery payload is a run of tag-length-value fields: a one-byte tag, a length of one
byte (< 128) or two (low 7 bits with the high bit set, then the rest shifted down 7),
and the value. Pure functions only: no sockets here.

A request names the device types it wants in ``DEVICE_TYPE`` tags, or several at once
in one ``MULTI_TYPE`` tag (newer libhdhomerun), and a ``DEVICE_ID``; newer clients leave
the id out to mean any device.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TYPE_DISCOVER_REQ = 0x0002
TYPE_DISCOVER_RPY = 0x0003

TAG_DEVICE_TYPE = 0x01
TAG_DEVICE_ID = 0x02
TAG_TUNER_COUNT = 0x10
TAG_LINEUP_URL = 0x27
TAG_BASE_URL = 0x2A
TAG_DEVICE_AUTH_STR = 0x2B
TAG_MULTI_TYPE = 0x2D

DEVICE_TYPE_TUNER = 0x00000001
DEVICE_TYPE_WILDCARD = 0xFFFFFFFF
DEVICE_ID_WILDCARD = 0xFFFFFFFF

#: The largest packet a client sends or accepts (libhdhomerun's HDHOMERUN_MAX_PACKET_SIZE).
MAX_PACKET_SIZE = 1460


class PacketError(ValueError):
    """A datagram that is not a well-formed HDHomeRun packet."""


@dataclass(frozen=True)
class DiscoverRequest:
    """What a discovery request asks for: device types, and an id (``None``: any)."""

    device_types: tuple[int, ...]
    device_id: int | None

    def wants(self, device_id: int) -> bool:
        """Whether a tuner with ``device_id`` should answer (no type asked: no answer)."""
        type_ok = any(t in (DEVICE_TYPE_TUNER, DEVICE_TYPE_WILDCARD) for t in self.device_types)
        id_ok = self.device_id in (None, DEVICE_ID_WILDCARD, device_id)
        return type_ok and id_ok


def encode_length(length: int) -> bytes:
    """The varlen length of a TLV field."""
    if length < 0 or length > 0x7FFF:
        raise ValueError(f"TLV length out of range: {length}")
    if length < 0x80:
        return bytes((length,))
    return bytes(((length & 0x7F) | 0x80, length >> 7))


def tlv(tag: int, value: bytes) -> bytes:
    """One tag-length-value field."""
    return bytes((tag,)) + encode_length(len(value)) + value


def frame(packet_type: int, payload: bytes) -> bytes:
    """Header, payload and CRC-32 (little-endian) around ``payload``."""
    body = struct.pack(">HH", packet_type, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def unframe(data: bytes) -> tuple[int, bytes]:
    """``(type, payload)`` of a whole packet; :class:`PacketError` when it is not one."""
    if len(data) < 8:
        raise PacketError(f"{len(data)} bytes is too short for a packet")
    packet_type, length = struct.unpack_from(">HH", data)
    if len(data) != 4 + length + 4:
        raise PacketError(f"payload length {length} does not match a {len(data)}-byte datagram")
    (crc,) = struct.unpack_from("<I", data, 4 + length)
    if zlib.crc32(data[: 4 + length]) != crc:
        raise PacketError("bad CRC")
    return packet_type, data[4 : 4 + length]


def read_tlvs(payload: bytes) -> Iterable[tuple[int, bytes]]:
    """Every ``(tag, value)`` of a payload; :class:`PacketError` on a truncated field."""
    pos = 0
    while pos < len(payload):
        if pos + 2 > len(payload):
            raise PacketError("truncated TLV header")
        tag, length = payload[pos], payload[pos + 1]
        pos += 2
        if length & 0x80:
            if pos >= len(payload):
                raise PacketError("truncated TLV length")
            length = (length & 0x7F) | (payload[pos] << 7)
            pos += 1
        if pos + length > len(payload):
            raise PacketError(f"TLV 0x{tag:02X} claims {length} bytes past the payload")
        yield tag, payload[pos : pos + length]
        pos += length


def parse_discover_request(data: bytes) -> DiscoverRequest:
    """The request in ``data``; :class:`PacketError` for anything else."""
    packet_type, payload = unframe(data)
    if packet_type != TYPE_DISCOVER_REQ:
        raise PacketError(f"packet type 0x{packet_type:04X} is not a discovery request")
    types: list[int] = []
    device_id: int | None = None
    for tag, value in read_tlvs(payload):
        if tag in (TAG_DEVICE_TYPE, TAG_DEVICE_ID, TAG_MULTI_TYPE):
            if len(value) % 4 or not value or (tag != TAG_MULTI_TYPE and len(value) != 4):
                raise PacketError(f"TLV 0x{tag:02X} has {len(value)} bytes")
            numbers = struct.unpack(f">{len(value) // 4}I", value)
            if tag == TAG_DEVICE_ID:
                device_id = numbers[0]
            else:
                types.extend(numbers)
    return DiscoverRequest(tuple(types), device_id)


def discover_reply(document: Mapping[str, object]) -> bytes:
    """The reply packet for a ``discover.json`` document (DeviceID, BaseURL, ...)."""
    tuners = max(0, min(int(str(document["TunerCount"])), 0xFF))
    payload = b"".join((
        tlv(TAG_DEVICE_TYPE, struct.pack(">I", DEVICE_TYPE_TUNER)),
        tlv(TAG_DEVICE_ID, struct.pack(">I", int(str(document["DeviceID"]), 16))),
        tlv(TAG_TUNER_COUNT, bytes((tuners,))),
        tlv(TAG_DEVICE_AUTH_STR, str(document["DeviceAuth"]).encode()),
        tlv(TAG_BASE_URL, str(document["BaseURL"]).encode()),
        tlv(TAG_LINEUP_URL, str(document["LineupURL"]).encode()),
    ))
    return frame(TYPE_DISCOVER_RPY, payload)
