"""The long chaos and soak run: python bench/chaos.py --minutes 10

Runs each scenario of tests/chaos/scenarios.py against a real server for the given time
and prints a summary of what it tried and what was lost. (The test suite runs a short
version of the same scenarios.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos.scenarios import (  # noqa: E402
    backups_under_writes,
    broker_outage,
    config_churn,
    connection_abuse,
    growing_source,
    kill_storm,
    three_channels,
)
from tests.helpers import Server, base_config, clips_folder, write_config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the kill storm")
    args = parser.parse_args()
    seconds = args.minutes * 60
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = clips_folder("long", 3, 12.0)
        config = growing_source(three_channels(base_config(folder, clips)), folder / "grow")
        path = write_config(folder / "exstreamtv.yaml", config)
        with Server(path) as server:
            summaries.append(kill_storm(server, [1, 2, 3], [8, 6, 6], seconds=seconds,
                                        kill_every=5))
            summaries.append(config_churn(server, config, seconds=min(seconds, 120), every=3))
            summaries.append(connection_abuse(server, idle_readers=50, storm=2000))
            summaries.append(backups_under_writes(server, folder / "grow",
                                                  sorted(clips.glob("*.mp4"))[0],
                                                  seconds=min(seconds, 60), every=5))
        try:
            from tests.mqtt_support import Broker
        except ImportError:
            Broker = None
        if Broker is not None:
            broker = Broker(folder / "broker").start()
            try:
                config["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": broker.port}
                path = write_config(folder / "exstreamtv.yaml", config)
                with Server(path) as server:
                    for _ in range(3):
                        summaries.append(broker_outage(server, broker, down_seconds=20))
                        time.sleep(2)
            finally:
                broker.stop()
    failed = 0
    for summary in summaries:
        problems = losses(summary)
        failed += bool(problems)
        print(json.dumps(summary))
        print(f"  -> {'LOST: ' + '; '.join(problems) if problems else 'nothing lost'}")
    print(f"{len(summaries)} scenarios, {failed} with losses")
    return 1 if failed else 0


def losses(s: dict[str, Any]) -> list[str]:
    """What a scenario's summary says was lost, against the targets of the chaos suite."""
    problems = []
    if s.get("disconnects"):
        problems.append(f"{s['disconnects']} viewers disconnected: {s['disconnect_reasons']}")
    if s.get("kills") is not None and s.get("healed") != s.get("kills"):
        problems.append(f"{s['kills'] - s['healed']} kills not healed")
    if s.get("viewer_disconnected"):
        problems.append(f"viewer disconnected: {s['viewer_disconnected']}")
    if s.get("wrong_states"):
        problems.append(f"{len(s['wrong_states'])} wrong config states")
    if s.get("unchanged_channel_restarts"):
        problems.append("an unchanged channel restarted")
    if s.get("sessions_left") or s.get("ffmpeg_left"):
        problems.append(f"{s['sessions_left']} sessions and {s['ffmpeg_left']} ffmpeg left")
    if s.get("rss_end_mib") is not None and s["rss_end_mib"] - s["rss_base_mib"] > 40:
        problems.append("memory not back to baseline (+40 MiB)")
    if s.get("state_republished_after_s") is not None and s["state_republished_after_s"] > 5:
        problems.append("MQTT state re-published later than 5 s")
    if s.get("rows_lost") or s.get("errors"):
        problems.append(f"rows lost {s.get('rows_lost')}, errors {s.get('errors')}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
