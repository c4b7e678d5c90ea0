"""Randomized reconnect schedules against two nodes in this process: every connection's
live stream is exactly once and in order from its resume point (tests/resume_schedules.py).

A node's death is simulated by aborting every socket it holds at once; the multi-process
variant with SIGKILL is tests/chat/test_delivery_kill.py. `make soak` runs both longer.

Time: a few hundred schedules take about two minutes on a quiet machine. A loaded one
(CI on two cores) runs as many as fit in BUDGET_S, and the test fails on its own, with
its seed and schedule, at DEADLINE_S: pytest-timeout's alarm is only a backstop, because
it raises inside whichever task happens to run, and a task of a node that swallows it
(its pub/sub reader, a catch-up read) leaves that node deaf while the test goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random

import pytest

from tests.clients import Worker, make_staff
from tests.conftest import RunningNode
from tests.resume_schedules import Side, Target, run_schedule

SCHEDULES = int(os.environ.get("YIZHAN_SCHEDULES", "300"))
# No new schedule starts after this many seconds (unless YIZHAN_SCHEDULES asks for more).
BUDGET_S = float(os.environ.get("YIZHAN_SCHEDULE_BUDGET_S", "150"))
# Never fewer, however slow the machine: a run must still mean something.
MIN_SCHEDULES = 30
# The test's own limit: the budget, one more schedule and its 30 s settle, with margin.
DEADLINE_S = BUDGET_S + 150
# A replayed or longer run (YIZHAN_SEED, `make soak`) runs every schedule it asks for.
EXACT = "YIZHAN_SEED" in os.environ or "YIZHAN_SCHEDULES" in os.environ


def abort_all(node: RunningNode) -> Target:
    async def kill() -> None:
        for connection in list(node.server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    return Target(node.base, kill)


@pytest.mark.timeout(0 if EXACT else DEADLINE_S + 60)
async def test_random_reconnect_schedules_are_exactly_once_in_order(node_factory) -> None:
    # The frame limit is per connection; these clients send far faster than a person.
    nodes = [await node_factory(messages_per_minute=100_000) for _ in range(2)]
    counselor = await make_staff(nodes[0])
    worker = Worker(nodes[1].base)
    sides: list[Side] = []
    seed = int(os.environ.get("YIZHAN_SEED", random.randrange(1 << 30)))
    number = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        cws = await counselor.connect()
        await counselor.on_duty()
        await worker.sign_in()
        wws = await worker.connect()
        conv = (await worker.request_chat())["conversation_id"]
        await wws.expect("matched", timeout=10)
        await cws.expect("assigned", timeout=10)
        await wws.close()
        await cws.close()

        sides += [Side("worker", "/ws/worker", worker.cookie, conv),
                  Side("counselor", "/ws/staff", counselor.cookie, conv)]
        targets = [abort_all(n) for n in nodes]
        rng = random.Random(seed)
        async with asyncio.timeout(None if EXACT else DEADLINE_S):
            for number in range(SCHEDULES):
                if (not EXACT and number >= MIN_SCHEDULES
                        and loop.time() - started > BUDGET_S):
                    break
                await run_schedule(rng, sides, targets, steps=rng.randrange(3, 10))
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}, schedule {number}: {exc}") from exc
    except TimeoutError:
        raise AssertionError(f"seed {seed}, schedule {number}: timed out after "
                             f"{loop.time() - started:.0f} s") from None
    finally:
        # Whatever happened, no socket or task of this test outlives it.
        for side in sides:
            await side.close()
        for client in (worker, counselor):
            with contextlib.suppress(Exception):
                await client.close()
