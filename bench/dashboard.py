"""Dashboard cost: first paint and bytes loaded in Chromium, and the server CPU used by
20 open dashboards on the live event stream, against the same server with none open.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import ROOT, result

sys.path.insert(0, str(ROOT))
from tests.browser import browser_page
from tests.helpers import Server, base_config, clips_folder, write_config

WINDOW = 15.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = base_config(folder, clips_folder("basic", 3, 4.0))
        with Server(write_config(folder / "c.yaml", config)) as server:
            assert server.proc is not None
            with browser_page() as page:
                page.goto(server.url + "/")
                page.wait_for_load_state("networkidle")
                paint = page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0]?.startTime || 0")
                size = page.evaluate(
                    "performance.getEntriesByType('resource').reduce((n, r) => n + r.encodedBodySize, 0)"
                    " + performance.getEntriesByType('navigation')[0].encodedBodySize")
            # A churn of events while the dashboards listen: config reloads.
            def churn(stop: threading.Event) -> None:
                while not stop.is_set():
                    server.post("/api/config/reload")
                    time.sleep(0.2)

            def measure(listeners: int) -> float:
                stop = threading.Event()
                clients = []
                for _ in range(listeners):
                    def listen() -> None:
                        with httpx.stream("GET", server.url + "/api/events/stream",
                                          timeout=None) as response:
                            for _line in response.iter_lines():
                                if stop.is_set():
                                    return
                    thread = threading.Thread(target=listen, daemon=True)
                    thread.start()
                    clients.append(thread)
                time.sleep(1)
                worker = threading.Thread(target=churn, args=(stop,), daemon=True)
                start = cpu_seconds(server.proc.pid)
                worker.start()
                time.sleep(WINDOW)
                used = cpu_seconds(server.proc.pid) - start
                stop.set()
                worker.join()
                return used / WINDOW

            idle = measure(0)
            busy = measure(20)
    print(f"first contentful paint {paint:.0f} ms; page and assets {size / 1024:.0f} KiB "
          "(hls.js loads only with a preview)")
    print(f"server CPU with event churn: 0 dashboards {idle * 100:.1f}%, 20 dashboards "
          f"{busy * 100:.1f}%")
    result("dashboard page weight (aim < 300 KiB)", f"{size / 1024:.0f} KiB", "300 KiB",
           size / 1024 / 300, f"first paint {paint:.0f} ms")
    result("20 dashboards on live events, server CPU", f"{busy * 100:.1f}%",
           f"{idle * 100:.1f}% (none open)", busy / max(idle, 1e-3))


if __name__ == "__main__":
    main()
