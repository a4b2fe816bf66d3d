"""HDHomeRun emulation: what Plex, Jellyfin and Emby read to add ExStreamTV as a tuner.

Endpoints and fields follow the HDHomeRun HTTP API: ``/discover.json``,
``/lineup.json``, ``/lineup_status.json``, ``/device.xml`` and ``POST /lineup.post``.
The DeviceID is ``server.device_id`` or, when that is null, 8 hex digits generated
once (with a valid HDHomeRun check digit) and kept in ``server.data_directory``, so it
is stable across restarts. Lineup URLs carry no query string.

Radio channels (``output: audio``) are left out of the lineup: Plex, Jellyfin and Emby
record and play an HDHomeRun channel as video and fail on a stream without a picture.
They reach IPTV players through the M3U (marked ``radio="true"``).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from quart import Blueprint, Response

from exstreamtv import __version__
from exstreamtv.config.model import Config
from exstreamtv.safe_text import one_line, xml_text
from exstreamtv.web.common import base_url, hub, json_response

log = logging.getLogger(__name__)

bp = Blueprint("hdhomerun", __name__)

DEVICE_ID_FILE = "hdhomerun_device_id"
MODEL_NUMBER = "HDTC-2US"
FIRMWARE_NAME = "hdhomeruntc_atsc"
FIRMWARE_VERSION = "20200101"
_CHECK_TABLE = (0xA, 0x5, 0xF, 0x6, 0x7, 0xC, 0x1, 0xB, 0x9, 0x2, 0x8, 0xD, 0x4, 0x3, 0xE, 0x0)


def _checksum(value: int) -> int:
    total = 0
    for shift in range(28, -1, -4):
        nibble = (value >> shift) & 0xF
        # Nibbles at odd positions from the top go through the lookup table.
        total ^= _CHECK_TABLE[nibble] if (shift // 4) % 2 == 1 else nibble
    return total


def valid_device_id(device_id: str) -> bool:
    """Whether ``device_id`` (8 hex digits) has a valid HDHomeRun check digit."""
    try:
        value = int(device_id, 16)
    except ValueError:
        return False
    return len(device_id) == 8 and _checksum(value) == 0


def new_device_id() -> str:
    """Random 8 hex digits whose last one is the HDHomeRun check digit."""
    head = secrets.randbits(28) << 4
    return f"{head | _checksum(head):08X}"


def device_id(config: Config) -> str:
    """``server.device_id``, else the one kept in the data directory (made once)."""
    if config.server.device_id:
        return config.server.device_id.upper()
    path = Path(config.server.data_directory) / DEVICE_ID_FILE
    try:
        stored = path.read_text().strip().upper()
    except OSError:
        stored = ""
    if valid_device_id(stored):
        return stored
    made = new_device_id()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(made + "\n")
        log.info("HDHomeRun DeviceID %s generated and kept in %s", made, path)
    except OSError as exc:
        log.error("Cannot keep the HDHomeRun DeviceID in %s (%s); it will change on restart; "
                  "set server.device_id", path, exc)
    return made


def discover(config: Config, base: str) -> dict[str, object]:
    """The ``discover.json`` document."""
    ident = device_id(config)
    return {
        "FriendlyName": config.server.name,
        "Manufacturer": "ExStreamTV",
        "ModelNumber": MODEL_NUMBER,
        "FirmwareName": FIRMWARE_NAME,
        "FirmwareVersion": FIRMWARE_VERSION,
        "DeviceID": ident,
        "DeviceAuth": f"exstreamtv-{ident.lower()}",
        "BaseURL": base,
        "LineupURL": f"{base}/lineup.json",
        "TunerCount": config.server.tuner_count,
    }


def lineup(config: Config, base: str) -> list[dict[str, object]]:
    """The ``lineup.json`` entries: one per enabled video channel, URLs without a query."""
    return [
        {"GuideNumber": str(c.number), "GuideName": one_line(c.name),
         "URL": f"{base}/stream/channels/{c.number}.ts", "HD": 1}
        for c in config.channels if c.enabled and not c.radio
    ]


def device_xml(config: Config, base: str) -> str:
    """The UPnP device description (``device.xml``)."""
    ident = device_id(config)
    name = xml_text(config.server.name)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion>"
        f"<URLBase>{xml_text(base)}</URLBase>"
        "<device><deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>"
        f"<friendlyName>{name}</friendlyName><manufacturer>ExStreamTV</manufacturer>"
        f"<modelName>{MODEL_NUMBER}</modelName><modelNumber>{MODEL_NUMBER}</modelNumber>"
        f"<modelDescription>ExStreamTV {__version__}</modelDescription>"
        f"<serialNumber>{ident}</serialNumber><UDN>uuid:{ident}</UDN></device></root>\n"
    )


@bp.route("/discover.json")
async def discover_json() -> tuple[Response, int]:
    return json_response(discover(hub().config, base_url()))


@bp.route("/lineup.json")
async def lineup_json() -> tuple[Response, int]:
    return json_response(lineup(hub().config, base_url()))


@bp.route("/lineup_status.json")
async def lineup_status() -> tuple[Response, int]:
    return json_response({"ScanInProgress": 0, "ScanPossible": 1, "Source": "Cable",
                          "SourceList": ["Cable"]})


@bp.route("/lineup.post", methods=["POST", "GET"])
async def lineup_post() -> Response:
    # Scans are instant: the lineup is the config. Clients POST ?scan=start|abort.
    return Response("", status=200)


@bp.route("/device.xml")
async def device_description() -> Response:
    return Response(device_xml(hub().config, base_url()), mimetype="application/xml")
