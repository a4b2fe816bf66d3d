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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos.scenarios import (  # noqa: E402
    broker_outage,
    config_churn,
    connection_abuse,
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
        config = three_channels(base_config(folder, clips_folder("long", 3, 12.0)))
        path = write_config(folder / "exstreamtv.yaml", config)
        with Server(path) as server:
            summaries.append(kill_storm(server, [1, 2, 3], [8, 6, 6], seconds=seconds,
                                        kill_every=5))
            summaries.append(config_churn(server, config, seconds=min(seconds, 120), every=3))
            summaries.append(connection_abuse(server, idle_readers=50, storm=2000))
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
    for summary in summaries:
        print(json.dumps(summary))
    lost = [s for s in summaries if s.get("disconnects") or s.get("viewer_disconnected")
            or s.get("wrong_states") or s.get("sessions_left") or s.get("ffmpeg_left")]
    print(f"{len(summaries)} scenarios, {len(lost)} with losses")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
