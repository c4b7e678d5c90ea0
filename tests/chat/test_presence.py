"""Presence frames come in pairs whichever node dies: `worker_back` only after a
`worker_away`, and a worker whose node died (no socket closed to say so) is reported
away by the sweep of any node once its link lapses."""

from __future__ import annotations

import asyncio

import pytest

from chat_queue import keys
from tests.clients import matched_pair


async def test_a_worker_whose_node_died_is_reported_away_then_back(node) -> None:
    worker, wws, counselor, cws, conv = await matched_pair(node)
    n = node.node
    await node.parts.core.upkeep.heartbeats()
    await node.parts.core.sweeps.sweep_workers()  # linked: nothing to say
    with pytest.raises(asyncio.TimeoutError):
        await cws.expect("worker_away", timeout=0.3)

    # Its node stops renewing the link (as a node killed with SIGKILL would).
    await n.queue.redis.zadd(keys.WORKER_LINKS, {conv: 0})
    await node.parts.core.sweeps.sweep_workers()
    await node.parts.core.sweeps.sweep_workers()  # told once only
    assert (await cws.expect("worker_away", timeout=5))["conversation_id"] == conv

    wws2 = await worker.connect()
    assert (await cws.expect("worker_back", timeout=5))["conversation_id"] == conv
    assert [f["type"] for f in cws.frames].count("worker_away") == 1
    await wws2.close()
    await wws.close()
    await worker.close()
    await counselor.close()


async def test_no_back_without_away(node) -> None:
    """A worker back on a new socket before its link lapsed was never reported away."""
    worker, wws, counselor, cws, _conv = await matched_pair(node)
    wws2 = await worker.connect()  # a second socket, the first still open
    with pytest.raises(asyncio.TimeoutError):
        await cws.expect("worker_back", timeout=0.5)
    await wws2.close()
    await wws.close()
    await worker.close()
    await counselor.close()
