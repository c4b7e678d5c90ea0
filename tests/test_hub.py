"""The hub: what a node publishes reaches its own sockets directly and other nodes through
Redis, once each and in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from chat_server.chat.hub import Hub


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


async def heard_within(heard: list[dict], count: int = 1, seconds: float = 2.0) -> None:
    """Wait until `count` payloads were heard (or `seconds` passed: the caller asserts)."""
    for _ in range(int(seconds / 0.02)):
        if len(heard) >= count:
            return
        await asyncio.sleep(0.02)


async def test_a_node_hears_its_own_publishes_once_in_order_and_so_does_another(node) -> None:
    hub = node.node.hub
    here: list[dict] = []
    there: list[dict] = []
    await hub.listen("yz:ch:test:both", lambda _channel, payload: here.append(payload))
    async with another_node_hub(node) as other:
        await other.listen("yz:ch:test:both", lambda _channel, payload: there.append(payload))
        sent = [{"t": "frame", "n": n} for n in range(20)]
        for payload in sent[:10]:
            hub.publish_soon("yz:ch:test:both", payload)
        await hub.publish_many([("yz:ch:test:both", p) for p in sent[10:]])
        # Handed over before Redis was even asked.
        assert here == sent
        await heard_within(there, len(sent))
        # Redis has taken every publish, so it sends this node their echoes before
        # anything published after them: once "last" is here, no echo is on its way.
        await other.publish("yz:ch:test:both", {"t": "frame", "n": "last"})
        await heard_within(here, len(sent) + 1)
    assert there == here == [*sent, {"t": "frame", "n": "last"}]
