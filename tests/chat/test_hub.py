"""The hub: what a node publishes reaches its own sockets directly and other nodes through
Redis, once each and in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from chat_queue.keys import conversation_channel
from chat_server.chat.hub import Hub
from chat_server.wire import codec
from chat_server.wire.events import FrameEvent, MessageEvent, NodeEvent, Nudge


@contextlib.asynccontextmanager
async def another_node_hub(node) -> AsyncIterator[Hub]:
    """A second node's hub on the same Redis: what it hears went through Redis (a node's
    own listeners are handed its publishes directly)."""
    other = Hub(node.node.hub.redis)
    await other.start()
    try:
        yield other
    finally:
        await other.stop()


async def heard_within(heard: list[NodeEvent], count: int = 1, seconds: float = 2.0) -> None:
    """Wait until `count` payloads were heard (or `seconds` passed: the caller asserts)."""
    for _ in range(int(seconds / 0.02)):
        if len(heard) >= count:
            return
        await asyncio.sleep(0.02)


async def test_a_node_hears_its_own_publishes_once_in_order_and_so_does_another(node) -> None:
    hub = node.node.hub
    here: list[NodeEvent] = []
    there: list[NodeEvent] = []
    await hub.subscribe("yz:ch:test:both", lambda _channel, event: here.append(event))
    async with another_node_hub(node) as other:
        await other.subscribe("yz:ch:test:both", lambda _channel, event: there.append(event))
        sent: list[NodeEvent] = [FrameEvent({"type": "test", "n": n}) for n in range(20)]
        for event in sent[:10]:
            hub.publish_soon("yz:ch:test:both", event)
        await hub.publish_many([("yz:ch:test:both", e) for e in sent[10:]])
        # Handed over before Redis was even asked.
        assert here == sent
        await heard_within(there, len(sent))
        # Redis has taken every publish, so it sends this node their echoes before
        # anything published after them: once "last" is here, no echo is on its way.
        last = FrameEvent({"type": "test", "n": "last"})
        await other.publish("yz:ch:test:both", last)
        await heard_within(here, len(sent) + 1)
    assert there == here == [*sent, last]


async def test_typed_events_reach_listeners_here_and_on_another_node(node) -> None:
    hub = node.node.hub
    channel = conversation_channel("test-typed")
    typed_here: list[NodeEvent] = []
    typed_there: list[NodeEvent] = []

    def on_typed(_channel: str, event: NodeEvent) -> None:
        typed_here.append(event)

    await hub.subscribe(channel, on_typed)
    sealed = MessageEvent("test-typed", 1, "worker", "w-1", "text", "t", b"n", b"ct", 1, b"k")
    sealed.opened = (None, '{"type":"message"}')
    sent: list[NodeEvent] = [sealed, Nudge("test-typed", 1),
                             FrameEvent({"type": "left", "conversation_id": "test-typed"})]
    async with another_node_hub(node) as other:
        await other.subscribe(channel, lambda _c, event: typed_there.append(event))
        for event in sent:
            hub.publish_soon(channel, event)
        assert typed_here == sent and typed_here[0] is sealed  # the same object, opened
        await heard_within(typed_there, len(sent))
        # Through Redis: the same events, the opened form left behind.
        assert typed_there == sent
        assert typed_there[0].opened is None  # type: ignore[attr-defined]
        # Another node's publish arrives decoded.
        await other.publish(channel, Nudge("test-typed", 2))
        await heard_within(typed_here, len(sent) + 1)
    assert typed_here[-1] == Nudge("test-typed", 2)
    await hub.unsubscribe(channel, on_typed)


async def test_a_malformed_event_is_dropped(node) -> None:
    hub = node.node.hub
    channel = conversation_channel("test-malformed")
    typed: list[NodeEvent] = []
    await hub.subscribe(channel, lambda _c, event: typed.append(event))
    # Straight onto Redis, as a node of another version (or anyone) might publish.
    await hub.redis.publish(channel, codec.dumps({"t": "gossip"}))
    async with another_node_hub(node) as other:
        await other.publish(channel, Nudge("test-malformed", 1))
        await heard_within(typed, 1)
        await asyncio.sleep(0.1)
    assert typed == [Nudge("test-malformed", 1)]
