"""The XMLTV guide at ``/api/xmltv.xml`` (alias ``/iptv/xmltv.xml``).

The guide is built off the event loop (see :mod:`exstreamtv.web.documents`), from
schedulers of its own (:meth:`ChannelManager.guide_scheduler`), within a budget: at most
``MAX_PROGRAMMES`` programmes and ``BUILD_SECONDS`` of work; past either, the remaining
channels are listed without programmes and the server log says why. A built guide is
reused for requests in the same minute until the config or the library changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from quart import Blueprint, Response

from exstreamtv.config.model import Config
from exstreamtv.hub import Hub
from exstreamtv.media.artwork import item_artwork_url
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem, Scheduler
from exstreamtv.scheduling.guide import GuideChannel, logo_url, render_xmltv
from exstreamtv.web.common import base_url, error, hub
from exstreamtv.web.documents import Document, DocumentNotReady, documents

log = logging.getLogger(__name__)

bp = Blueprint("guide", __name__)

#: Programmes in one guide, over all channels, before the rest are left out.
MAX_PROGRAMMES = 500_000
#: Seconds of work on one guide before the rest is left out.
BUILD_SECONDS = 20.0
#: How long a request waits for a guide being built before a 503 with Retry-After.
WAIT_SECONDS = 25.0
#: Guides are cached per time window of this many seconds.
WINDOW_SECONDS = 60


class GuideBudget:
    """Counts programmes and time for one guide build; says when it is spent."""

    def __init__(self, max_programmes: int = MAX_PROGRAMMES,
                 seconds: float = BUILD_SECONDS) -> None:
        self.left = max_programmes
        self.max_programmes = max_programmes
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.spent_reason: str | None = None

    def take(self) -> bool:
        """One more programme: False once the budget is spent."""
        if self.spent_reason is not None:
            return False
        self.left -= 1
        if self.left < 0:
            self.spent_reason = f"more than {self.max_programmes} programmes"
        elif self.left % 1000 == 0 and time.monotonic() > self.deadline:
            self.spent_reason = f"building took longer than {self.seconds:.0f} s"
        return self.spent_reason is None


class BudgetedScheduler(Scheduler):
    """A scheduler whose guide window stops when the build's budget is spent."""

    def __init__(self, inner: Scheduler, budget: GuideBudget) -> None:
        super().__init__(inner.options, inner.context)
        self.inner = inner
        self.budget = budget

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        return self.inner.entries(t)

    def window(self, start: float, end: float) -> list[ScheduledItem]:
        out = []
        for entry in self.inner.entries(start):
            if entry.start >= end or not self.budget.take():
                break
            out.append(entry)
        return out


def guide_channels(h: Hub, base: str, budget: GuideBudget | None = None) -> list[GuideChannel]:
    """Every enabled channel with a guide scheduler (None when it cannot be built)."""
    out = []
    for channel in h.config.channels:
        if not channel.enabled:
            continue
        scheduler: Scheduler | None
        try:
            scheduler = h.channels.guide_scheduler(channel.number)
        except Exception as exc:
            log.error("Channel %d has no guide: its schedule failed: %s", channel.number, exc)
            scheduler = None
        if scheduler is not None and budget is not None:
            scheduler = BudgetedScheduler(scheduler, budget)
        out.append(GuideChannel(channel, scheduler, logo_url(channel, base)))
    return out


def render_guide(h: Hub, base: str, now: float | None = None) -> str:
    """The XMLTV document of the running server, built here (tests, CLI)."""
    now = time.time() if now is None else now
    return _render(h.config, guide_channels(h, base), now, base)


def _render(config: Config, channels: list[GuideChannel], now: float, base: str) -> str:
    settings = config.guide
    start = now - settings.hours_behind * 3600
    end = now + settings.days_ahead * 86400

    def icon(item: MediaItem) -> str | None:
        return item_artwork_url(item, base)

    return render_xmltv(channels, start, end, merge_seconds=settings.merge_flex_seconds,
                        icon=icon, now=now)


async def cached_guide(h: Hub, base: str) -> Document:
    """The guide for this minute, built off the event loop once and then reused."""
    window = int(time.time() // WINDOW_SECONDS) * WINDOW_SECONDS
    key = ("xmltv", h.config_status.version, h.library.version, base, window)

    def prepare() -> Callable[[], str]:
        budget = GuideBudget()
        channels = guide_channels(h, base, budget)  # on the loop: schedulers are built here
        config = h.config

        def build() -> str:
            body = _render(config, channels, float(window), base)
            if budget.spent_reason is not None:
                log.warning("The guide was cut short (%s): some channels have no "
                            "programmes; lower guide.days_ahead or shorten the schedules",
                            budget.spent_reason)
            return body

        return build

    return await documents().get(key, prepare, name="guide", wait_seconds=WAIT_SECONDS)


@bp.route("/api/xmltv.xml")
@bp.route("/iptv/xmltv.xml")
async def xmltv() -> Response | tuple[Response, int]:
    try:
        document = await cached_guide(hub(), base_url())
    except DocumentNotReady as exc:
        response, status = error(503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    return document.response("application/xml")
