"""Position pushes give way to a matching pass: with 1,000 waiting, a freed seat's next
worker must not wait behind a thousand position frames (docs/BENCHMARKS.md, hand-off).
Pure units: the dispatcher's matching pass is replaced by one the test controls."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from chat_server.chat.dispatch import Dispatcher


def dispatcher() -> Dispatcher:
    return Dispatcher(SimpleNamespace(settings=SimpleNamespace(presence_ttl_s=30)))  # type: ignore[arg-type]


async def test_a_matching_pass_holds_position_pushes_until_it_ends() -> None:
    d = dispatcher()
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_match() -> None:
        started.set()
        await release.wait()

    d.match = slow_match  # type: ignore[method-assign]
    matcher = asyncio.create_task(d._match_loop())
    try:
        d.kick()
        await asyncio.wait_for(started.wait(), 1)
        waiting = asyncio.create_task(d._give_way_to_matching())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the pass is still running
        release.set()
        await asyncio.wait_for(waiting, 1)  # and the pushes go on once it ended
    finally:
        matcher.cancel()
        await asyncio.gather(matcher, return_exceptions=True)


async def test_without_a_pass_pushes_do_not_wait_and_a_stuck_pass_holds_them_briefly() -> None:
    d = dispatcher()
    await asyncio.wait_for(d._give_way_to_matching(), 0.01)
    d._not_matching.clear()  # a pass that never ends
    await asyncio.wait_for(d._give_way_to_matching(), 1)  # bounded: gives up on its own
