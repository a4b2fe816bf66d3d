"""Guide page cost for 100 channels x 24 hours: server time per page against building the
XMLTV of the same lineup over the same 24 hours in the same server (the baseline: the same
schedules walked once, written as XML), cold (a day not yet built) and warm (the day's
page built already); bytes, first paint and time to interactive in Chromium; and the
server CPU while 20 pages stay open, against none open (the page does not poll).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, median, result

sys.path.insert(0, str(ROOT))
from tests.browser import browser_page
from tests.helpers import Server, base_config, channel, clips_folder, write_config

CHANNELS = 100
WINDOW = 10.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = base_config(folder, clips_folder("basic", 3, 4.0))
        config["sources"].append({"id": "long", "type": "local",
                                  "path": str(clips_folder("guide-long", 1, 420.0))})
        # Half the channels of 7-minute programmes (about 200 blocks a day each), half of
        # 4-second clips (grouped into a few blocks).
        config["channels"] = [channel(n, f"Channel {n}", "long" if n % 2 else "clips")
                              for n in range(1, CHANNELS + 1)]
        config["guide"] = {"days_ahead": 1, "hours_behind": 0}  # the XMLTV covers 24 hours
        with Server(write_config(folder / "c.yaml", config)) as server:
            assert server.proc is not None
            server.wait_for(lambda: server.get("/api/channels/1").json().get("now"), timeout=120)

            def fetch(path: str) -> tuple[float, httpx.Response]:
                started = time.perf_counter()
                response = httpx.get(server.url + path, timeout=120)
                assert response.status_code == 200, response.text
                return time.perf_counter() - started, response

            xmltv_cold = fetch("/api/xmltv.xml")[0]
            xmltv_warm = median([fetch("/api/xmltv.xml")[0] for _ in range(5)])
            cold = median([fetch(f"/guide?day={day}")[0] for day in (0, 1, 2)])
            times = []
            for _ in range(5):
                spent, response = fetch("/guide")
                times.append(spent)
            html_bytes = len(response.content)
            with browser_page() as page:
                page.goto(server.url + "/guide")
                page.wait_for_selector("body[data-ready=yes]")
                paint = page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0]?.startTime || 0")
                interactive = page.evaluate(
                    "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
                size = page.evaluate(
                    "performance.getEntriesByType('resource').reduce((n, r) => n + "
                    "r.encodedBodySize, 0) + performance.getEntriesByType('navigation')[0]"
                    ".encodedBodySize")

                def measure(pages: int) -> float:
                    opened = []
                    for _ in range(pages):
                        other = page.context.new_page()
                        other.goto(server.url + "/guide")
                        opened.append(other)
                    time.sleep(1)
                    start = cpu_seconds(server.proc.pid)
                    time.sleep(WINDOW)
                    used = cpu_seconds(server.proc.pid) - start
                    for other in opened:
                        other.close()
                    return used / WINDOW

                idle = measure(0)
                busy = measure(20)
    print(f"{CHANNELS} channels x 24 h: HTML {html_bytes / 1024:.0f} KiB, page and assets "
          f"{size / 1024:.0f} KiB; server {median(times) * 1000:.0f} ms per page (median of 5)")
    print(f"server: guide page cold {cold * 1000:.0f} ms, warm {median(times) * 1000:.0f} ms; "
          f"XMLTV of the same 24 h cold {xmltv_cold * 1000:.0f} ms, "
          f"warm {xmltv_warm * 1000:.0f} ms")
    print(f"first contentful paint {paint:.0f} ms, interactive {interactive:.0f} ms")
    print(f"server CPU: 0 guide pages open {idle * 100:.1f}%, 20 open {busy * 100:.1f}%")
    result("guide page 100 channels x 24 h, bytes (aim < 2 MiB)", f"{size / 1024:.0f} KiB",
           "2048 KiB", size / 1024 / 2048,
           f"first paint {paint:.0f} ms, interactive {interactive:.0f} ms, "
           f"server {median(times) * 1000:.0f} ms")
    result("guide page 100 channels x 24 h, server, cold", f"{cold * 1000:.0f} ms",
           f"{xmltv_cold * 1000:.0f} ms (XMLTV, same 24 h, cold)", cold / xmltv_cold)
    result("guide page 100 channels x 24 h, server, warm", f"{median(times) * 1000:.0f} ms",
           f"{xmltv_cold * 1000:.0f} ms (XMLTV, same 24 h, cold)", median(times) / xmltv_cold,
           f"XMLTV warm {xmltv_warm * 1000:.0f} ms")
    result("20 guide pages open, server CPU", f"{busy * 100:.1f}%",
           f"{idle * 100:.1f}% (none open)", busy / max(idle, 1e-3))


if __name__ == "__main__":
    main()
