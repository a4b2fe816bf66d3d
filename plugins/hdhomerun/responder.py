"""The UDP side of HDHomeRun emulation: answering discovery requests.

Media servers find tuners by broadcasting a discovery request to UDP port 65001; each
tuner answers the sender with its DeviceID, TunerCount, DeviceAuth, BaseURL and
LineupURL. The answer is built from the same document as ``/discover.json``, so the
two cannot disagree, with a BaseURL the asking client can reach.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from .protocol import PacketError, discover_reply, parse_discover_request

log = logging.getLogger(__name__)

_WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Listener:
    """Where discovery listens and which address it announces (None: the route's own)."""

    bind_host: str
    port: int
    announce: str | None

    @property
    def label(self) -> str:
        host = f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host
        return f"UDP {host}:{self.port}"


def plan_listener(server_host: str, port: int) -> Listener:
    """Where to bind for ``server.host``.

    A wildcard host listens everywhere and announces, per request, the local address
    on the route back to the requester. Loopback or IPv6 addresses are bound as they are.
    A specific IPv4 LAN address is announced, but the socket listens on 0.0.0.0: Linux
    delivers broadcasts only to sockets bound to every address.
    """
    if server_host in _WILDCARDS:
        return Listener(server_host or "0.0.0.0", port, None)
    try:
        infos = socket.getaddrinfo(server_host, port, type=socket.SOCK_DGRAM,
                                   flags=socket.AI_PASSIVE)
        address = str(infos[0][4][0])
    except (OSError, IndexError):
        address = server_host
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return Listener(address, port, address)
    if ip.is_unspecified:
        return Listener(address, port, None)
    if ip.version == 4 and not ip.is_loopback:
        return Listener("0.0.0.0", port, address)
    return Listener(address, port, address)


def route_address(requester: str) -> str:
    """The local address this machine uses to reach ``requester`` (no packet is sent)."""
    if requester.startswith("::ffff:") and "." in requester:
        requester = requester[len("::ffff:"):]
    family = socket.AF_INET6 if ":" in requester else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((requester, 65001))
        local = str(probe.getsockname()[0])
    return local[len("::ffff:"):] if local.startswith("::ffff:") else local


def url_host(address: str) -> str:
    """``address`` as the host part of a URL (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address


class DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers discovery requests for one tuner; everything else is ignored quietly.

    ``document(base_url)`` returns the ``discover.json`` mapping for that base URL;
    ``base_url(local_address)`` turns the address the reply leaves from into one.
    """

    def __init__(self, listener: Listener, document: Callable[[str], Mapping[str, object]],
                 base_url: Callable[[str], str]) -> None:
        self.listener = listener
        self.document = document
        self.base_url = base_url
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0
        self.ignored = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self._answer(data, addr)
        except Exception as exc:  # a request must never take the responder down
            self.ignored += 1
            log.debug("HDHomeRun discovery: no answer to %s: %s", addr[0], exc)

    def error_received(self, exc: Exception) -> None:
        # E.g. ICMP port unreachable after answering a client that already left.
        log.debug("HDHomeRun discovery socket: %s", exc)

    def _answer(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            request = parse_discover_request(data)
        except PacketError as exc:
            self.ignored += 1
            log.debug("HDHomeRun discovery: ignored %d bytes from %s: %s", len(data), addr[0], exc)
            return
        local = self.listener.announce or route_address(str(addr[0]))
        document = self.document(self.base_url(local))
        if not request.wants(int(str(document["DeviceID"]), 16)):
            self.ignored += 1
            log.debug("HDHomeRun discovery: request from %s is for another device (%s)",
                      addr[0], request)
            return
        if self.transport is not None:
            self.transport.sendto(discover_reply(document), addr)
            self.answered += 1
            log.debug("HDHomeRun discovery: answered %s with %s", addr[0], document["BaseURL"])


async def open_responder(listener: Listener, document: Callable[[str], Mapping[str, object]],
                         base_url: Callable[[str], str]) -> DiscoveryResponder:
    """Bind the discovery socket exclusively (SO_BROADCAST); OSError when it cannot.

    No SO_REUSEADDR: with it, a second server on the host binds the same port too and
    Linux hands the requests to the newest socket, so the older server stops answering
    without a word. Without it, the second one gets EADDRINUSE and says so.
    """
    infos = socket.getaddrinfo(listener.bind_host, listener.port, type=socket.SOCK_DGRAM,
                               flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind(sockaddr)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    responder = DiscoveryResponder(listener, document, base_url)
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: responder, sock=sock)
    return responder
