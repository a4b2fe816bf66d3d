"""The in-process event bus: typed events, sync and async subscribers, isolation."""

from __future__ import annotations

import asyncio

from exstreamtv.events import ChannelEvent, EventBus, HealthEvent


def test_publish_to_sync_and_async_subscribers_and_isolate_failures():
    async def main():
        bus = EventBus()
        seen: list[str] = []

        def broken(event):
            raise RuntimeError("boom")

        async def slow(event):
            await asyncio.sleep(0)
            seen.append(f"async:{event.kind}")

        bus.subscribe(broken)
        bus.subscribe(lambda e: seen.append(f"sync:{e.kind}"))
        unsubscribe = bus.subscribe(slow)
        bus.publish(HealthEvent(component="x", status="ok"))
        await bus.drain()
        unsubscribe()
        bus.publish(ChannelEvent(channel=1, action="started"))
        await bus.drain()
        return seen, list(bus.recent)

    seen, recent = asyncio.run(main())
    assert seen == ["sync:health", "async:health", "sync:channel"]
    assert [e.kind for e in recent] == ["health", "channel"]
    data = recent[1].to_dict()
    assert data["kind"] == "channel" and data["channel"] == 1 and "timestamp" in data


def test_a_clustered_bus_stamps_its_node_id_and_a_single_server_adds_none():
    async def main():
        single, node = EventBus(), EventBus()
        node.node_id = "node-a"
        for bus in (single, node):
            bus.publish(HealthEvent(component="x", status="ok"))
        await asyncio.gather(single.drain(), node.drain())
        return single.recent[0].to_dict(), node.recent[0].to_dict()

    single, clustered = asyncio.run(main())
    assert "node_id" not in single
    assert clustered["node_id"] == "node-a" and clustered["component"] == "x"
