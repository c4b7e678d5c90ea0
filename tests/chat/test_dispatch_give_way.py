"""Position pushes give way to a matching pass: with 1,000 waiting, a freed seat's next
worker must not wait behind a thousand position frames (docs/BENCHMARKS.md, hand-off).
Pure units: the matcher's pass is replaced by one the test controls."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from chat_server.chat.matcher import Matcher
from chat_server.chat.waiting import GIVE_WAY_MAX_S
from chat_server.chat.wake import Wake


def matcher(wake: Wake) -> Matcher:
    return Matcher(SimpleNamespace(), wake, None, None, None)  # type: ignore[arg-type]


async def test_a_matching_pass_holds_position_pushes_until_it_ends() -> None:
    wake = Wake()
    m = matcher(wake)
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_match() -> None:
        started.set()
        await release.wait()

    m.match = slow_match  # type: ignore[method-assign]
    loop = asyncio.create_task(m.run())
    try:
        wake.kick()
        await asyncio.wait_for(started.wait(), 1)
        waiting = asyncio.create_task(wake.give_way(GIVE_WAY_MAX_S))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the pass is still running
        release.set()
        await asyncio.wait_for(waiting, 1)  # and the pushes go on once it ended
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_without_a_pass_pushes_do_not_wait_and_a_stuck_pass_holds_them_briefly() -> None:
    wake = Wake()
    await asyncio.wait_for(wake.give_way(GIVE_WAY_MAX_S), 0.01)
    wake.not_matching.clear()  # a pass that never ends
    await asyncio.wait_for(wake.give_way(GIVE_WAY_MAX_S), 1)  # bounded: gives up on its own
