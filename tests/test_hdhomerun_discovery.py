"""HDHomeRun discovery over real UDP against a running server.

Replies are read with a small parser of this file's own (the libhdhomerun packet
format: big-endian header, TLVs with a one- or two-byte length, CRC-32 little-endian),
so the test does not trust the server's encoder. One test runs libhdhomerun's own
``hdhomerun_config discover`` (Debian package hdhomerun-config) when it is installed.
"""

from __future__ import annotations

import random
import shutil
import socket
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Server, base_config, free_port, write_config

DISCOVER_REQ, DISCOVER_RPY = 0x0002, 0x0003
TAG_DEVICE_TYPE, TAG_DEVICE_ID, TAG_TUNER_COUNT = 0x01, 0x02, 0x10
TAG_LINEUP_URL, TAG_BASE_URL, TAG_DEVICE_AUTH, TAG_MULTI_TYPE = 0x27, 0x2A, 0x2B, 0x2D
TUNER, STORAGE, WILDCARD = 0x00000001, 0x00000005, 0xFFFFFFFF


def packet(packet_type: int, payload: bytes) -> bytes:
    head = struct.pack(">HH", packet_type, len(payload)) + payload
    return head + struct.pack("<I", zlib.crc32(head))


def request(device_type: int = WILDCARD, device_id: int | None = WILDCARD) -> bytes:
    """A request as libhdhomerun sends it; ``device_id=None`` leaves the id out (newer clients)."""
    payload = bytes((TAG_DEVICE_TYPE, 4)) + struct.pack(">I", device_type)
    if device_id is not None:
        payload += bytes((TAG_DEVICE_ID, 4)) + struct.pack(">I", device_id)
    return packet(DISCOVER_REQ, payload)


def multi_type_request(*device_types: int) -> bytes:
    """Newer libhdhomerun's request for several device types in one MULTI_TYPE tag."""
    values = b"".join(struct.pack(">I", t) for t in device_types)
    return packet(DISCOVER_REQ, bytes((TAG_MULTI_TYPE, len(values))) + values)


def parse_reply(data: bytes) -> dict[int, bytes]:
    """The TLVs of a discovery reply, after checking its length and CRC."""
    packet_type, length = struct.unpack(">HH", data[:4])
    assert packet_type == DISCOVER_RPY
    assert len(data) == 4 + length + 4
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])
    fields: dict[int, bytes] = {}
    payload, pos = data[4:-4], 0
    while pos < len(payload):
        tag, size = payload[pos], payload[pos + 1]
        pos += 2
        if size & 0x80:
            size = (size & 0x7F) | (payload[pos] << 7)
            pos += 1
        fields[tag] = payload[pos:pos + size]
        assert len(fields[tag]) == size
        pos += size
    return fields


def decoded(fields: dict[int, bytes]) -> dict[str, Any]:
    return {
        "DeviceType": struct.unpack(">I", fields[TAG_DEVICE_TYPE])[0],
        "DeviceID": f"{struct.unpack('>I', fields[TAG_DEVICE_ID])[0]:08X}",
        "TunerCount": fields[TAG_TUNER_COUNT][0],
        "DeviceAuth": fields[TAG_DEVICE_AUTH].decode(),
        "BaseURL": fields[TAG_BASE_URL].decode(),
        "LineupURL": fields[TAG_LINEUP_URL].decode(),
    }


def ask(address: tuple[str, int], data: bytes, timeout: float = 2.0) -> bytes | None:
    """Send one datagram from a fresh socket; the first answer, or None after ``timeout``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(timeout)
        client.sendto(data, address)
        try:
            return client.recv(2048)
        except TimeoutError:
            return None


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def spare_loopback() -> str:
    """A loopback address other servers of the suite do not use (all of 127/8 is local)."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


Lan = tuple[Server, tuple[str, int]]


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Iterator[Lan]:
    """A server listening on every address (as on a LAN), discovery on a free UDP port."""
    tmp = tmp_path_factory.mktemp("hdhr")
    port = free_udp_port("0.0.0.0")
    config = base_config(tmp, clips, hdhomerun={"discovery_port": port})
    config["server"].update(host="0.0.0.0", tuner_count=3)
    server = Server(write_config(tmp / "exstreamtv.yaml", config)).start()
    yield server, ("127.0.0.1", port)
    server.stop()


def test_wildcard_request_gets_the_discover_json_device(lan: Lan) -> None:
    lan_server, udp = lan
    reply = ask(udp, request())
    assert reply is not None, lan_server.log
    found = decoded(parse_reply(reply))
    discover = lan_server.get("/discover.json").json()
    assert found["DeviceType"] == TUNER
    for key in ("DeviceID", "TunerCount", "DeviceAuth", "BaseURL", "LineupURL"):
        assert found[key] == discover[key], key
    # Bound to 0.0.0.0, the reply names the address the requester reached, never 0.0.0.0.
    assert found["BaseURL"] == lan_server.url and found["TunerCount"] == 3
    lineup = httpx.get(found["BaseURL"] + "/lineup.json", timeout=10).json()
    assert [e["GuideNumber"] for e in lineup] == ["1"]
    assert httpx.get(found["LineupURL"], timeout=10).json() == lineup


def test_requests_for_a_tuner_or_our_id_are_answered(lan: Lan) -> None:
    lan_server, udp = lan
    device_id = lan_server.get("/discover.json").json()["DeviceID"]
    for data in (request(TUNER, int(device_id, 16)),     # exact id, as a tuner
                 request(WILDCARD, int(device_id, 16)),  # exact id, any type
                 request(TUNER, None),                   # newer clients: no id means any
                 multi_type_request(STORAGE, TUNER)):    # newer clients: several types
        reply = ask(udp, data)
        assert reply is not None, data.hex()
        assert decoded(parse_reply(reply))["DeviceID"] == device_id


def test_other_requests_and_garbage_get_no_answer(lan: Lan) -> None:
    lan_server, udp = lan
    device_id = int(lan_server.get("/discover.json").json()["DeviceID"], 16)
    good = request()
    bad_crc = good[:-1] + bytes((good[-1] ^ 0xFF,))
    unwanted = {
        "other device id": request(TUNER, device_id ^ 0x10),
        "other device type (storage)": request(STORAGE, WILDCARD),
        "only other types": multi_type_request(STORAGE, 0x00000006),
        "bad CRC": bad_crc,
        "garbage": b"GET / HTTP/1.0\r\n\r\n",
        "truncated": good[:9],
        "length past the end": good[:2] + b"\x00\xff" + good[4:],
        "TLV past the payload": packet(DISCOVER_REQ, bytes((TAG_DEVICE_TYPE, 40, 0, 0, 0, 1))),
        "a reply": packet(DISCOVER_RPY, good[4:-4]),
        "no tags": packet(DISCOVER_REQ, b""),
        "empty": b"",
    }
    clients = []
    try:
        for data in unwanted.values():
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            clients.append(client)
            client.sendto(data, udp)
        socket_timeout = 0.5
        answered = []
        for name, client in zip(unwanted, clients, strict=True):
            client.settimeout(socket_timeout)
            try:
                client.recv(2048)
                answered.append(name)
            except TimeoutError:
                pass
            socket_timeout = 0.01  # the 0.5 s have passed for every request sent together
        assert answered == []
    finally:
        for client in clients:
            client.close()
    assert ask(udp, good) is not None
    health = lan_server.get("/api/health")
    assert health.status_code == 200
    component = health.json()["components"]["hdhomerun_discovery"]
    assert component["status"] == "ok" and component["ignored"] >= len(unwanted)


def test_reload_moves_and_stops_discovery_live(make_server: Callable[..., Server],
                                               config_for: Callable[..., dict[str, Any]]) -> None:
    first, second = free_udp_port(), free_udp_port()
    config = config_for(hdhomerun={"discovery_port": first})
    server = make_server(config)
    assert ask(("127.0.0.1", first), request()) is not None

    # server.port cannot move live: HTTP stays where it is, and so does the announced BaseURL.
    config["server"]["port"] = free_port()
    write_config(server.config_path, config)
    server.wait_for(lambda: server.get("/api/config/status").json()["version"] == 2, timeout=10)
    reply = ask(("127.0.0.1", first), request())
    assert reply is not None and decoded(parse_reply(reply))["BaseURL"] == server.url
    assert f"server.host/port 127.0.0.1:{config['server']['port']} in the config take effect " \
        "after a restart" in server.log

    # A long base_url (over 127 bytes: a two-byte TLV length) and another port, live.
    long_base = f"http://127.0.0.1:{server.port}/" + "tv/" * 50
    config["server"]["base_url"] = long_base.rstrip("/")
    config["hdhomerun"]["discovery_port"] = second
    write_config(server.config_path, config)
    server.wait_for(lambda: str(second) in server.get("/api/health").json()
                    ["components"]["hdhomerun_discovery"].get("listen", ""), timeout=10)
    reply = ask(("127.0.0.1", second), request())
    assert reply is not None
    assert decoded(parse_reply(reply))["BaseURL"] == long_base.rstrip("/")
    assert server.get("/discover.json").json()["BaseURL"] == long_base.rstrip("/")
    assert ask(("127.0.0.1", first), request(), timeout=0.5) is None

    config["hdhomerun"]["discovery"] = False
    write_config(server.config_path, config)
    server.wait_for(lambda: server.get("/api/health").json()
                    ["components"]["hdhomerun_discovery"]["state"] == "disabled", timeout=10)
    assert ask(("127.0.0.1", second), request(), timeout=0.5) is None


def test_port_in_use_warns_once_and_http_still_serves(
        make_server: Callable[..., Server], config_for: Callable[..., dict[str, Any]]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other_app:
        other_app.bind(("127.0.0.1", 0))
        port = other_app.getsockname()[1]
        server = make_server(config_for(hdhomerun={"discovery_port": port}))
        component = server.get("/api/health").json()["components"]["hdhomerun_discovery"]
        assert component["status"] == "degraded" and component["state"] == "failed"
        warnings = [line for line in server.log.splitlines()
                    if "WARNING" in line and f"UDP 127.0.0.1:{port}" in line]
        assert len(warnings) == 1, server.log
        assert "already in use" in warnings[0]
        assert server.get("/discover.json").status_code == 200


def test_hdhomerun_config_discovers_the_server(make_server: Callable[..., Server],
                                               config_for: Callable[..., dict[str, Any]]) -> None:
    """libhdhomerun's own client finds us; it only ever asks on UDP 65001."""
    tool = shutil.which("hdhomerun_config")
    if tool is None:
        pytest.skip("hdhomerun_config not installed (Debian package hdhomerun-config)")
    address = spare_loopback()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 65001))
    except OSError as exc:
        pytest.skip(f"UDP {address}:65001 is not free here ({exc})")
    config = config_for()
    config["server"].update(host=address, port=free_port())
    server = make_server(config)
    assert server.url.startswith(f"http://{address}:")
    device_id = server.get("/discover.json").json()["DeviceID"]
    out = subprocess.run([tool, "discover", address], capture_output=True, text=True,
                         timeout=10, check=False)
    assert out.returncode == 0, out.stdout + out.stderr + server.log
    assert f"hdhomerun device {device_id} found at {address}" in out.stdout


def test_where_discovery_listens_for_each_server_host() -> None:
    from exstreamtv_plugins.hdhomerun.responder import Listener, plan_listener

    # Everywhere: the announced address is worked out per request (the route back).
    assert plan_listener("0.0.0.0", 65001) == Listener("0.0.0.0", 65001, None)
    # Loopback is bound as it is: only this machine asks there.
    assert plan_listener("127.0.0.1", 65001) == Listener("127.0.0.1", 65001, "127.0.0.1")
    # A LAN address is announced, but broadcasts reach only a socket bound to 0.0.0.0.
    assert plan_listener("192.168.1.20", 65001) == Listener("0.0.0.0", 65001, "192.168.1.20")


def test_two_servers_on_one_discovery_port_the_second_says_so(
        make_server: Callable[..., Server], config_for: Callable[..., dict[str, Any]],
        tmp_path: Path) -> None:
    port = free_udp_port()
    first = make_server(config_for(hdhomerun={"discovery_port": port}))
    assert ask(("127.0.0.1", port), request()) is not None
    second_config = config_for(hdhomerun={"discovery_port": port})
    second_config["server"]["data_directory"] = str(tmp_path / "second")
    second_config["database"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'second' / 'db'}"
    second = make_server(second_config, name="second.yaml")
    component = second.get("/api/health").json()["components"]["hdhomerun_discovery"]
    assert component["status"] == "degraded" and "already in use" in component["message"]
    assert [line for line in second.log.splitlines()
            if "WARNING" in line and f"UDP 127.0.0.1:{port}" in line], second.log
    # the first server keeps the port: every request is still answered with its own URL
    for _ in range(5):
        reply = ask(("127.0.0.1", port), request())
        assert reply is not None and decoded(parse_reply(reply))["BaseURL"] == first.url
    assert first.get("/api/health").json()["components"]["hdhomerun_discovery"]["status"] == "ok"
