"""Randomized reconnect schedules against two nodes in this process: every connection's
live stream is exactly once and in order from its resume point (tests/resume_schedules.py).

A node's death is simulated by aborting every socket it holds at once; the multi-process
variant with SIGKILL is tests/test_delivery_kill.py. `make soak` runs both longer.
"""

from __future__ import annotations

import os
import random

from tests.clients import Worker, make_staff
from tests.conftest import RunningNode
from tests.resume_schedules import Side, Target, run_schedule

SCHEDULES = int(os.environ.get("YIZHAN_SCHEDULES", "300"))


def abort_all(node: RunningNode) -> Target:
    async def kill() -> None:
        for connection in list(node.server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    return Target(node.base, kill)


async def test_random_reconnect_schedules_are_exactly_once_in_order(node_factory) -> None:
    # The frame limit is per connection; these clients send far faster than a person.
    nodes = [await node_factory(messages_per_minute=100_000) for _ in range(2)]
    counselor = await make_staff(nodes[0])
    cws = await counselor.connect()
    await counselor.on_duty()
    worker = Worker(nodes[1].base)
    await worker.sign_in()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched", timeout=10)
    await cws.expect("assigned", timeout=10)
    await wws.close()
    await cws.close()

    sides = [Side("worker", "/ws/worker", worker.cookie, conv),
             Side("counselor", "/ws/staff", counselor.cookie, conv)]
    targets = [abort_all(n) for n in nodes]
    seed = int(os.environ.get("YIZHAN_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    for number in range(SCHEDULES):
        try:
            await run_schedule(rng, sides, targets, steps=rng.randrange(3, 10))
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, schedule {number}: {exc}") from exc
    for side in sides:
        await side.close()
    await worker.close()
    await counselor.close()
