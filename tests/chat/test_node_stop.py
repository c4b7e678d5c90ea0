"""A node that is told to stop, stops: a hung shutdown leaves its loops running against
the shared Redis and PostgreSQL (and in a deploy, a node that never restarts)."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningNode


async def test_the_matcher_stops_even_when_woken_as_it_is_stopped(node: RunningNode) -> None:
    # A socket closing at shutdown frees a seat and wakes the matcher as it is cancelled.
    # The cancel then lands inside a Redis command, where Python 3.11's wait_for (used
    # by redis-py to send) can swallow it: the matcher ran on against the shared stores
    # and the node's shutdown never finished (seen as a rare teardown timeout in the suite).
    core = node.parts.core
    for turns in range(4):  # where the race falls depends on a few scheduler turns
        core.wake.kick()
        for _ in range(turns):
            await asyncio.sleep(0)
        stopping = asyncio.create_task(core.stop())
        done, _ = await asyncio.wait([stopping], timeout=5)
        assert done, f"the dispatcher did not stop ({turns} turns after the wake-up)"
        await core.start()
