"""EBU R128 loudness: measured once per item, played back as one constant gain.

``audio.loudness_lufs`` gives a channel a target (e.g. -23 or -16 LUFS). Each item's
audio, as the channel plays it (the picked stream with its downmix), is measured once
with ffmpeg's ``loudnorm`` analysis (integrated loudness and true peak) and the result is
kept in the database with the file's fingerprint (size and modification time). Playback
then applies ``volume=<gain>dB``: a linear gain, no compressor that pumps.

The gain is capped: never above :data:`MAX_BOOST_DB`, never so much that the true peak
goes above :data:`PEAK_CEILING_DBTP`, and none at all for silence or audio too short to
measure (below :data:`SILENCE_LUFS`). An item not measured yet plays without gain while
it is measured in the background (one item at a time); items of channels with a target
are measured after each scan, so most are ready before they air.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from exstreamtv.database.failed_items import fingerprint as file_fingerprint
from exstreamtv.database.models import LoudnessRow
from exstreamtv.database.store import _upsert
from exstreamtv.media.models import MediaItem

if TYPE_CHECKING:
    from exstreamtv.hub import Hub

log = logging.getLogger(__name__)

#: Integrated loudness below this is treated as silence: no gain.
SILENCE_LUFS = -60.0
#: The most an item is made louder, in dB.
MAX_BOOST_DB = 20.0
#: Gain never lifts the true peak above this (dBTP).
PEAK_CEILING_DBTP = -1.0
#: How long one measurement may take (a long film on a slow host).
MEASURE_TIMEOUT = 3600.0

Key = tuple[str, str, str]  # source id, item id, stream (index and downmix)


@dataclass(frozen=True)
class Loudness:
    """One measurement: integrated loudness (LUFS) and true peak (dBTP); None if none."""

    integrated: float | None
    true_peak: float | None


def stream_key(stream: int, audio_filter: str | None) -> str:
    """What was measured: the stream index and the downmix applied before measuring."""
    return f"{stream}|{audio_filter or ''}"


def fingerprint(location: str) -> str | None:
    """The file's fingerprint (``size:mtime_ns``, as for failed items); None for a missing
    file or a remote item (not measured)."""
    stamp = file_fingerprint(location)
    return None if stamp is None or stamp.startswith("remote:") else stamp


def gain_db(measured: Loudness | None, target: float) -> float | None:
    """The constant gain that brings ``measured`` to ``target`` LUFS, capped; None: none."""
    if measured is None or measured.integrated is None or measured.integrated < SILENCE_LUFS:
        return None
    gain = min(target - measured.integrated, MAX_BOOST_DB)
    if measured.true_peak is not None:
        gain = min(gain, PEAK_CEILING_DBTP - measured.true_peak)
    return round(gain, 2)


def measure_argv(ffmpeg: str, location: str, stream: int, audio_filter: str | None) -> list[str]:
    """The analysis pass: the stream as played (with its downmix) into loudnorm's JSON."""
    pre = f"{audio_filter}," if audio_filter else ""
    return [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-i", location,
            "-filter_complex", f"[0:{stream}]{pre}loudnorm=print_format=json[a]",
            "-map", "[a]", "-f", "null", "-"]


def parse_loudnorm(stderr: str) -> Loudness:
    """loudnorm's JSON summary (the last ``{...}`` in stderr); -inf and junk become None."""
    start, end = stderr.rfind("{"), stderr.rfind("}")
    if start < 0 or end < start:
        return Loudness(None, None)
    try:
        data = json.loads(stderr[start:end + 1])
    except ValueError:
        return Loudness(None, None)

    def value(key: str) -> float | None:
        try:
            number = float(data.get(key))
        except (TypeError, ValueError):
            return None
        return number if abs(number) != float("inf") and number == number else None

    return Loudness(value("input_i"), value("input_tp"))


async def measure(ffmpeg: str, location: str, stream: int, audio_filter: str | None,
                  timeout: float = MEASURE_TIMEOUT) -> Loudness:
    """Measure one item's audio with real ffmpeg (Loudness(None, None) if it cannot)."""
    proc = await asyncio.create_subprocess_exec(
        *measure_argv(ffmpeg, location, stream, audio_filter),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return parse_loudnorm(err.decode(errors="replace"))


class LoudnessCache:
    """Measurements by item, in memory and in the database; measures in the background.

    ``lookup`` is what the planner calls (synchronously, while building a command);
    it answers from memory and queues what is missing or stale.
    """

    def __init__(self, hub: Hub | None = None, ffmpeg: str = "ffmpeg",
                 manager: Any = None) -> None:
        self.hub = hub
        self._ffmpeg = ffmpeg
        self._own_manager = manager
        self.known: dict[Key, tuple[str, Loudness]] = {}
        self.measured = 0
        self._queue: asyncio.Queue[tuple[MediaItem, int, str | None]] | None = None
        self._queued: set[Key] = set()
        self._worker: asyncio.Task[None] | None = None
        self._loaded = False

    @property
    def ffmpeg(self) -> str:
        return self.hub.tools.ffmpeg if self.hub is not None else self._ffmpeg

    # -- lookups -------------------------------------------------------------------------

    def lookup(self, item: MediaItem, stream: int, audio_filter: str | None) -> Loudness | None:
        """The measurement for this item's stream if it is current; else queue one."""
        key = (item.source_id, item.id, stream_key(stream, audio_filter))
        known = self.known.get(key)
        current = fingerprint(item.location)
        if current is None:
            return None  # remote or missing: not measured
        if known is not None and known[0] == current:
            return known[1]
        self.request(item, stream, audio_filter)
        return None

    def request(self, item: MediaItem, stream: int, audio_filter: str | None) -> None:
        """Queue a measurement (once); needs a running event loop."""
        key = (item.source_id, item.id, stream_key(stream, audio_filter))
        if key in self._queued or fingerprint(item.location) is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(), name="loudness")
        self._queued.add(key)
        self._queue.put_nowait((item, stream, audio_filter))

    async def ensure(self, item: MediaItem, stream: int, audio_filter: str | None) -> Loudness:
        """Measure now unless a current measurement is known (and keep it)."""
        known = self.lookup_known(item, stream, audio_filter)
        if known is not None:
            return known
        return await self._measure(item, stream, audio_filter)

    def lookup_known(self, item: MediaItem, stream: int, audio_filter: str | None) -> Loudness | None:
        known = self.known.get((item.source_id, item.id, stream_key(stream, audio_filter)))
        if known is not None and known[0] == fingerprint(item.location):
            return known[1]
        return None

    def prepare(self, wanted: Iterable[tuple[MediaItem, int, str | None]]) -> None:
        """Queue measurements for items about to be needed (after a scan)."""
        for item, stream, audio_filter in wanted:
            if self.lookup_known(item, stream, audio_filter) is None:
                self.request(item, stream, audio_filter)

    # -- measuring -----------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            item, stream, audio_filter = await self._queue.get()
            key = (item.source_id, item.id, stream_key(stream, audio_filter))
            try:
                if self.lookup_known(item, stream, audio_filter) is None:
                    await self._measure(item, stream, audio_filter)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Loudness of '%s' could not be measured: %s", item.title, exc)
            finally:
                self._queued.discard(key)

    async def _measure(self, item: MediaItem, stream: int, audio_filter: str | None) -> Loudness:
        await self.load()
        stamp = fingerprint(item.location)
        result = await measure(self.ffmpeg, item.location, stream, audio_filter)
        self.measured += 1
        if result.integrated is None or result.integrated < SILENCE_LUFS:
            log.info("Loudness of '%s': silent or too short to measure; played without gain",
                     item.title)
        else:
            log.info("Loudness of '%s': %.1f LUFS, true peak %.1f dBTP", item.title,
                     result.integrated, result.true_peak if result.true_peak is not None else 0)
        if stamp is not None:
            key = (item.source_id, item.id, stream_key(stream, audio_filter))
            self.known[key] = (stamp, result)
            await self._save(key, stamp, result)
        return result

    # -- persistence ---------------------------------------------------------------------

    def _manager(self) -> Any:
        database = getattr(self.hub, "database", None)
        manager = self._own_manager or getattr(database, "manager", None)
        return manager if manager is not None and manager.is_open else None

    async def load(self) -> None:
        """Read earlier measurements once the database is there."""
        manager = self._manager()
        if self._loaded or manager is None:
            return
        try:
            async with manager.session() as session:
                rows = (await session.scalars(select(LoudnessRow))).all()
        except Exception as exc:
            log.error("Could not load loudness measurements: %s", exc)
            return
        self._loaded = True
        for row in rows:
            key = (row.source_id, row.item_id, row.stream)
            self.known.setdefault(key, (row.fingerprint, Loudness(row.integrated, row.true_peak)))

    async def _save(self, key: Key, stamp: str, result: Loudness) -> None:
        manager = self._manager()
        if manager is None:
            return
        row = {"source_id": key[0], "item_id": key[1], "stream": key[2], "fingerprint": stamp,
               "integrated": result.integrated, "true_peak": result.true_peak,
               "measured_at": time.time()}
        try:
            await manager.write(lambda session: session.execute(
                _upsert(session, LoudnessRow.__table__, [row], ["source_id", "item_id", "stream"])))
        except Exception as exc:
            log.error("Could not save the loudness of %s: %s", key[1], exc)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
