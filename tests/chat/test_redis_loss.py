"""Redis is not the record: losing its data or its connection loses no waiting worker and
no acknowledged message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chat_server.config import Settings
from chat_server.ops.embedded import EmbeddedValkey
from chat_server.wire.events import FrameEvent, NodeEvent
from tests.chat.test_hub import another_node_hub, heard_within
from tests.clients import Worker, make_staff, matched_pair
from tests.conftest import start_node

pytestmark = pytest.mark.slow


async def test_queue_is_rebuilt_from_postgres_after_redis_lost_its_data(node, redis) -> None:
    workers = [Worker(node.base) for _ in range(3)]
    for w in workers:
        await w.sign_in()
        await w.connect()
        await w.request_chat()
    order = [w.conversation_id for w in workers]
    await redis.flushall()  # a failover to an empty replica, say
    # Within a couple of sweeps the queue is back, in the original order.
    deadline = asyncio.get_running_loop().time() + 8
    while asyncio.get_running_loop().time() < deadline:
        positions = await node.node.queue.positions(order)
        if all(positions.values()):
            break
        await asyncio.sleep(0.2)
    assert [positions[c] for c in order] == [1, 2, 3]
    counselor = await make_staff(node, capacity=3)
    await counselor.connect()
    await counselor.on_duty()
    for w in workers:
        await w.ws.expect("matched", timeout=8)
    for c in (*workers, counselor):
        await c.close()


async def test_messages_survive_a_redis_outage(pg, settings: Settings, tmp_path: Path) -> None:
    valkey = EmbeddedValkey(tmp_path / "valkey")
    url = await asyncio.to_thread(valkey.start)
    node = await start_node(settings.replace(redis_url=url))
    try:
        worker, wws, counselor, cws, conv = await matched_pair(node)

        await asyncio.to_thread(valkey.stop)
        # PostgreSQL still stores: the send is acknowledged although fan-out is down.
        await wws.send({"type": "send", "conversation_id": conv, "client_id": "o1",
                        "text": "还在吗"})
        ack = await wws.expect("ack", client_id="o1", timeout=10)
        await asyncio.to_thread(valkey.start)
        # When the hub reconnects, the counselor catches up on what was missed.
        got = await cws.expect("message", seq=ack["seq"], timeout=15)
        assert got["client_id"] == "o1"
        await worker.close()
        await counselor.close()
    finally:
        await node.stop()
        await asyncio.to_thread(valkey.stop)


async def test_reconcile_mends_a_lost_queue_entry_and_a_drifted_load(node, redis) -> None:
    from chat_queue import keys

    worker = Worker(node.base)
    await worker.sign_in()
    await worker.connect()
    await worker.request_chat()
    # Pretend a node claimed the worker in Redis and died before recording the match:
    # the entry is gone from the queue...
    await redis.zrem(keys.QUEUE, worker.conversation_id)
    counselor = await make_staff(node, capacity=3)
    await counselor.connect()
    await counselor.on_duty()
    # ...and the counselor's load counts two phantom conversations.
    await redis.hset(keys.LOAD, counselor.id, 2)
    await asyncio.sleep(1.5)
    assert not [f for f in worker.ws.frames if f.get("type") == "matched"]
    await node.parts.core.upkeep.reconcile()
    await worker.ws.expect("matched", timeout=8)
    await asyncio.sleep(0.3)
    # That round re-queued the worker, and the match it woke changed the seat while the
    # round was reading it, so the round left the load alone; the next round mends it.
    await node.parts.core.upkeep.reconcile()
    # One real conversation: the phantoms are gone from the count.
    assert await redis.hget(keys.LOAD, counselor.id) == "1"
    await worker.close()
    await counselor.close()


async def test_a_publish_cut_off_by_a_connection_blip_is_sent_again(node, monkeypatch) -> None:
    # Control events (a match, a duty change) are not caught up like messages: a publish
    # that failed on the connection is tried again rather than dropped.
    import redis.exceptions

    hub = node.node.hub
    real = hub.redis.evalsha
    attempts: list[int] = []

    async def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise redis.exceptions.ConnectionError("connection reset")
        return await real(*args, **kwargs)

    heard: list[NodeEvent] = []
    async with another_node_hub(node) as other:
        await other.subscribe("yz:ch:test:blip", lambda _channel, event: heard.append(event))
        monkeypatch.setattr(hub.redis, "evalsha", flaky)
        await hub.publish("yz:ch:test:blip", FrameEvent({"type": "test", "n": 1}))
        await heard_within(heard)
    assert heard == [FrameEvent({"type": "test", "n": 1})] and len(attempts) == 2


async def test_an_idle_subscriber_whose_ping_fails_reconnects(node, monkeypatch) -> None:
    # The subscriber's reads have no timeout; an idle line is checked by a ping. A ping
    # that cannot be sent means a dead line: the node must subscribe anew and have its
    # sockets catch up, not wait on it for good.
    hub = node.node.hub
    pubsub = hub._pubsub
    caught_up = asyncio.Event()
    hub.on_resync(caught_up.set)

    async def dead(*args, **kwargs):
        raise ConnectionError("broken pipe")

    monkeypatch.setattr(pubsub, "check_health", dead)
    await asyncio.wait_for(caught_up.wait(), 10)
    assert hub._pubsub is not pubsub
    heard: list[NodeEvent] = []
    await hub.subscribe("yz:ch:test:after", lambda _channel, event: heard.append(event))
    async with another_node_hub(node) as other:
        await other.publish("yz:ch:test:after", FrameEvent({"type": "test", "n": 2}))
        await heard_within(heard)
    assert heard == [FrameEvent({"type": "test", "n": 2})]
