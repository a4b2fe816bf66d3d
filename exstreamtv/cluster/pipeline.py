"""A channel pipeline of a clustered node: transcode while holding the lease, else relay.

:class:`ClusterPipeline` is a :class:`~exstreamtv.streaming.pipeline.ChannelPipeline`
whose loop first asks the cluster where the channel is transcoded:

- here (this node took or holds the lease): the ordinary pipeline runs, at the schedule
  position of now, until the pipeline stops or the lease is lost (fenced: the error
  screen then fills the gap until the new owner's stream comes);
- on another node: one internal connection reads the owner's TS stream (authenticated
  by headers, never by the URL) into this node's own buffer, through this pipeline's
  splicer, so local viewers see one continuous timeline across reconnections and
  takeovers; when the owner goes away the loop places the channel again, and takes it
  over once the dead owner's lease has expired.

A pipeline started for another node's relay connection (:data:`~.node.serving_relay`)
never relays itself: it transcodes or ends, so relays cannot form a loop or a chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from typing import Any

import httpx

from exstreamtv.cluster.node import ClusterNode, serving_relay
from exstreamtv.cluster.store import NoPlace, Owned, Upstream
from exstreamtv.ffmpeg.process import FFmpegProcess
from exstreamtv.streaming.pacer import Pacer
from exstreamtv.streaming.pipeline import ERROR_READ_SIZE, ChannelPipeline

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
#: How long one error screen fills a gap in the relayed stream before placing again.
BRIDGE_SECONDS = 2.0
RELAY_READ = 188 * 64


class Role(enum.Enum):
    """What a clustered node does for a channel."""

    WAITING = "waiting"
    OWNER = "owner"
    RELAY = "relay"


class _Fenced(Exception):
    """The lease was lost while transcoding."""


class ClusterPipeline(ChannelPipeline):
    """A channel pipeline that transcodes only under the channel's lease."""

    def __init__(self, *args: Any, node: ClusterNode, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.node = node
        self.role = Role.WAITING
        self.token: int | None = None
        self.upstream: str | None = None
        self.local_only = False
        self._fenced: asyncio.Event | None = None

    def start(self) -> None:
        self.local_only = serving_relay.get() is not None
        self.node.pipelines[self.number] = self
        super().start()

    async def stop(self) -> None:
        await super().stop()
        if self.node.pipelines.get(self.number) is self:
            del self.node.pipelines[self.number]
        if self.token is not None:
            token, self.token = self.token, None
            await self.node.release(self.number, token)

    def fence(self) -> None:
        """The lease is gone: stop transcoding (the loop then relays the new owner)."""
        if self._fenced is not None:
            self._fenced.set()

    def status(self) -> dict[str, object]:
        return {**super().status(), "cluster_role": self.role.value,
                "relay_from": self.upstream if self.role is Role.RELAY else None}

    # -- the loop -----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            placement = await self.node.place(self.number, relay_allowed=not self.local_only)
            if isinstance(placement, Owned):
                if not await self._transcode(placement.token):
                    return
                # Fenced: the error screen fills the gap until the new owner's stream.
                await self._bridge(f"node {self.node.node_id} lost the channel's lease")
            elif isinstance(placement, Upstream):
                await self._relay(placement)
            else:
                self._waiting(placement)
                if self.local_only:
                    self.state = "error"
                    self.buffer.close()
                    return
                await self._bridge(placement.reason)

    def _waiting(self, placement: NoPlace) -> None:
        if self.last_error != placement.reason:
            log.warning("Channel %d: %s", self.number, placement.reason)
        self.role, self.upstream, self.last_error = Role.WAITING, None, placement.reason
        if self.state == "running":
            self.state = "starting"

    async def _transcode(self, token: int) -> bool:
        """Run the ordinary pipeline; True when fenced (place again), False when it ended."""
        self.role, self.token, self.upstream = Role.OWNER, token, None
        self._fenced = fenced = asyncio.Event()
        inner = asyncio.ensure_future(super()._run())
        waiter = asyncio.ensure_future(fenced.wait())
        try:
            await asyncio.wait({inner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            # As in stop(): a cancellation can be swallowed by a read that completes.
            while not inner.done():
                inner.cancel()
                await asyncio.wait({inner}, timeout=1.0)
        if not fenced.is_set():
            return False
        self._fenced = None
        self.token = None
        await self._stop_ffmpeg()
        self.role = Role.WAITING
        return True

    async def _stop_ffmpeg(self) -> None:
        segments = [seg for seg in (self.current, self._prepared) if seg is not None]
        segments += await self.orders.close_fresh(f"channel {self.number} lost its lease")
        self.current = self._prepared = None
        for seg in segments:
            with contextlib.suppress(Exception):
                await seg.process.stop(timeout=2.0)

    async def _relay(self, upstream: Upstream) -> None:
        """Read the owner's stream into this node's buffer until it ends or fails."""
        self.role, self.upstream = Role.RELAY, upstream.node_id
        url = f"{upstream.url}/stream/channels/{self.number}.ts"
        timeout = httpx.Timeout(10.0, read=self.recovery.settings.stall_seconds)
        try:
            async with httpx.AsyncClient(timeout=timeout) as client, client.stream(
                "GET", url, headers=self.node.relay_headers()
            ) as response:
                if response.status_code != 200:
                    body = (await response.aread()).decode(errors="replace")[:300]
                    self.last_error = f"node {upstream.node_id} answered {response.status_code}: {body}"
                    raise httpx.HTTPError(self.last_error)
                self.splicer.start_segment()
                log.info("Channel %d: relaying node %s", self.number, upstream.node_id)
                async for data in response.aiter_raw(RELAY_READ):
                    if self.state != "running":
                        self.state = "running"
                        self.last_error = None
                    self._publish(self.splicer.feed(data))
        except httpx.HTTPError as exc:
            self.last_error = (f"relay from node {upstream.node_id} failed: "
                               f"{exc or type(exc).__name__}")
            log.warning("Channel %d: %s", self.number, self.last_error)
        self._publish(self.splicer.flush_hold())
        await self._bridge(f"node {upstream.node_id} is unreachable")

    async def _bridge(self, reason: str) -> None:
        """Fill a gap in the stream with the channel's error screen for a moment (paced),
        so viewers see why the picture stopped; only once something has been shown."""
        if self.splicer.end_seconds is None:
            await asyncio.sleep(RETRY_SECONDS)
            return
        log.info("Channel %d: showing the error screen (%s)", self.number, reason)
        plan = self.planner.error_screen(f"{self.channel.name}: technical difficulties",
                                         BRIDGE_SECONDS)
        process = FFmpegProcess(plan.argv, f"channel {self.number}: {plan.title}")
        try:
            await process.start()
        except OSError:
            await asyncio.sleep(BRIDGE_SECONDS)
            return
        self.splicer.start_segment()
        self.pacer = Pacer(f"Channel {self.number}")  # the relayed part was not paced here
        try:
            while data := await asyncio.wait_for(process.stdout.read(ERROR_READ_SIZE),
                                                 self.recovery.settings.stall_seconds):
                self._publish(self.splicer.feed(data))
                await self.pacer.pace(self.splicer.clock_seconds, self.settings.lead_seconds)
        except TimeoutError:
            log.warning("Channel %d: the error screen produced nothing", self.number)
        finally:
            await process.stop(timeout=1.0)
        self._publish(self.splicer.flush_hold())
