"""The sweep that notices a vanished counselor: the worker is told at once, and told
again when the counselor is back. The sweep reads only conversations whose counselor is
absent or marked away, so this drives it through both."""

from __future__ import annotations

import asyncio

import pytest

from chat_queue import keys
from tests.clients import matched_pair


async def test_a_vanished_counselor_is_noticed_and_their_return_too(node) -> None:
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    n = node.node
    staff_id = str(await n.services.pool.fetchval(
        "SELECT counselor_id FROM conversations WHERE id = $1::uuid", conv))

    await n.dispatcher.sweep_counselors()  # present: nothing to say
    with pytest.raises(asyncio.TimeoutError):
        await wws.expect("counselor_away", timeout=0.5)

    await n.queue.redis.delete(keys.counselor_presence(staff_id))  # their node went quiet
    await n.dispatcher.sweep_counselors()
    away = await wws.expect("counselor_away", timeout=5)
    assert away["conversation_id"] == conv

    await n.dispatcher.heartbeats()  # their socket is still here: presence renewed
    await n.dispatcher.sweep_counselors()
    back = await wws.expect("counselor_back", timeout=5)
    assert back["conversation_id"] == conv
    await worker.close()
    await counselor.close()
