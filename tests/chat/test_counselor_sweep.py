"""The sweep that notices a vanished counselor: the worker is told at once, and told
again when the counselor is back. The sweep reads only conversations whose counselor is
absent or marked away, so this drives it through both."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from chat_queue import keys
from tests.clients import matched_pair


async def test_a_vanished_counselor_is_noticed_and_their_return_too(node) -> None:
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    n = node.node
    staff_id = str(await n.services.pool.fetchval(
        "SELECT counselor_id FROM conversations WHERE id = $1::uuid", conv))

    await node.parts.core.sweeps.sweep_counselors()  # present: nothing to say
    with pytest.raises(asyncio.TimeoutError):
        await wws.expect("counselor_away", timeout=0.5)

    await n.queue.redis.delete(keys.counselor_presence(staff_id))  # their node went quiet
    await node.parts.core.sweeps.sweep_counselors()
    away = await wws.expect("counselor_away", timeout=5)
    assert away["conversation_id"] == conv

    await node.parts.core.upkeep.heartbeats()  # their socket is still here: presence renewed
    await node.parts.core.sweeps.sweep_counselors()
    back = await wws.expect("counselor_back", timeout=5)
    assert back["conversation_id"] == conv
    await worker.close()
    await counselor.close()


async def frames_within(ws, seconds: float) -> list[dict]:
    """Every frame that arrives within `seconds`."""
    with contextlib.suppress(asyncio.TimeoutError):
        while True:
            await ws.recv(seconds)
    return ws.frames


async def test_away_only_a_full_ttl_after_the_last_socket_once_and_back_at_once(
        node_factory) -> None:
    """The periodic heartbeat may be most of a TTL old when a socket is cut; the TTL still
    runs from the cut. Two nodes sweeping tell the worker once; the counselor's return is
    told at once (not at a heartbeat), and never to the counselor."""
    a = await node_factory()
    b = await node_factory()
    worker, wws, counselor, cws, conv = await matched_pair(a)
    staff_id = str(await a.node.services.pool.fetchval(
        "SELECT counselor_id FROM conversations WHERE id = $1::uuid", conv))
    redis = a.node.queue.redis
    presence = keys.counselor_presence(staff_id)

    await redis.pexpire(presence, 500)  # the last heartbeat was long ago
    await cws.close()
    for _ in range(100):  # until the node has seen the socket go
        if not a.parts.sockets.local(staff_id) and await redis.pttl(presence) > 10_000:
            break
        await asyncio.sleep(0.02)
    assert await redis.pttl(presence) > 10_000  # a whole TTL from the cut
    await asyncio.sleep(0.6)  # past the stale heartbeat's expiry
    await a.parts.core.sweeps.sweep_counselors()
    await b.parts.core.sweeps.sweep_counselors()
    assert "counselor_away" not in [f["type"] for f in await frames_within(wws, 0.3)]

    await redis.delete(presence)  # the TTL has passed with no socket of theirs
    await asyncio.gather(a.parts.core.sweeps.sweep_counselors(),
                         b.parts.core.sweeps.sweep_counselors())
    await b.parts.core.sweeps.sweep_counselors()
    await wws.expect("counselor_away", timeout=2, conversation_id=conv)

    cws2 = await counselor.connect(b.base)  # back, on the other node
    back = await wws.expect("counselor_back", timeout=1.5)
    assert back["conversation_id"] == conv
    await a.parts.core.sweeps.sweep_counselors()
    seen = [f["type"] for f in await frames_within(wws, 0.5)]
    assert seen.count("counselor_away") == 1 and seen.count("counselor_back") == 1
    staff_seen = [f["type"] for f in await frames_within(cws2, 0.3)]
    assert "counselor_back" not in staff_seen and "counselor_away" not in staff_seen
    await cws2.close()
    await wws.close()
    await worker.close()
    await counselor.close()
