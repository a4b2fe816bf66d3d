"""XMLTV for 500 channels over 7 days (target < 1 s), against a naive ElementTree build.

    python bench/xmltv_guide.py [--channels 500] [--days 7]
"""

from __future__ import annotations

import argparse
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from common import make_library, make_scheduler, registry, result, timed

from exstreamtv.scheduling.guide import GuideChannel, render_xmltv


def naive_xmltv(channels: list[GuideChannel], start: float, end: float) -> str:
    """The obvious way: ElementTree, strftime per time, every element built every time."""
    root = ET.Element("tv", {"generator-info-name": "naive"})
    for gc in channels:
        node = ET.SubElement(root, "channel", {"id": gc.channel.guide_id})
        ET.SubElement(node, "display-name").text = gc.channel.name
    for gc in channels:
        assert gc.scheduler is not None
        for entry in gc.scheduler.window(start, end):
            attrs = {
                "start": time.strftime("%Y%m%d%H%M%S +0000", time.gmtime(entry.start)),
                "stop": time.strftime("%Y%m%d%H%M%S +0000", time.gmtime(entry.end)),
                "channel": gc.channel.guide_id,
            }
            prog = ET.SubElement(root, "programme", attrs)
            item = entry.item
            ET.SubElement(prog, "title").text = item.metadata.get("show") if item else "Offline"
            if item is not None:
                ET.SubElement(prog, "sub-title").text = item.title
                ET.SubElement(prog, "desc").text = str(item.metadata.get("description"))
                for genre in item.metadata.get("genres", ()):
                    ET.SubElement(prog, "category").text = genre
                season, episode = item.metadata["season"], item.metadata["episode"]
                ET.SubElement(prog, "episode-num", {"system": "xmltv_ns"}).text = (
                    f"{season - 1}.{episode - 1}.")
                ET.SubElement(prog, "episode-num", {"system": "onscreen"}).text = (
                    f"S{season:02d}E{episode:02d}")
    return ET.tostring(root, encoding="unicode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    reg = registry()
    lib = make_library({f"show{i}": 200 for i in range(50)})
    types = ["ordered", "shuffle", "balance", "time_slots"]
    channels = []
    for n in range(1, args.channels + 1):
        kind = types[n % len(types)]
        options: dict[str, object]
        if kind == "balance":
            options = {"type": kind, "sources": [{"collection": f"show{n % 50}", "weight": 2},
                                                 {"collection": f"show{(n + 1) % 50}"}],
                       "cooldown_minutes": 60}
        elif kind == "time_slots":
            options = {"type": kind, "slots": [
                {"name": "Day", "start_time": "06:00", "duration_minutes": 960,
                 "collection": f"show{n % 50}", "padding_mode": "loop"},
                {"name": "Night", "start_time": "22:00", "duration_minutes": 480,
                 "collection": f"show{(n + 3) % 50}", "order_mode": "shuffle"}]}
        else:
            options = {"type": kind, "collection": f"show{n % 50}"}
        channels.append(options)
    start = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    end = start + args.days * 86400

    def build() -> list[GuideChannel]:
        out = []
        for n, options in enumerate(channels, 1):
            sched = make_scheduler(reg, options, lib, n)
            out.append(GuideChannel(sched.context.channel, sched))
        return out

    fast_time, xml = timed(lambda: render_xmltv(build(), start, end), repeat=2)
    naive_time, _naive = timed(lambda: naive_xmltv(build(), start, end))
    programmes = xml.count("<programme ")
    print(f"XMLTV {args.channels} channels x {args.days} days: {programmes} programmes, "
          f"{len(xml) / 1e6:.1f} MB")
    print(f"  exstreamtv: {fast_time:.3f} s (target < 1 s)   naive ElementTree: {naive_time:.3f} s"
          f"   ratio naive/ours: {naive_time / fast_time:.1f}x")
    result(f"XMLTV {args.channels} channels x {args.days} days", f"{fast_time:.3f} s",
           f"{naive_time:.3f} s (ElementTree)", fast_time / naive_time, "target < 1 s")


if __name__ == "__main__":
    main()
