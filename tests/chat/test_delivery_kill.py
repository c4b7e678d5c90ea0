"""Randomized reconnect schedules against two `yizhan serve` processes, killed with
SIGKILL (either node, or both one after the other) and started again on the same port:
every connection's live stream stays exactly once and in order (tests/resume_schedules.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random

import pytest

from tests.chat.test_chat_nodes import NodeProcess, create_counselor
from tests.clients import PASSWORD, Staff, Worker
from tests.resume_schedules import Side, Target, run_schedule

pytestmark = pytest.mark.slow

SCHEDULES = int(os.environ.get("YIZHAN_KILL_SCHEDULES", "12"))


class Restartable:
    """A node process that a schedule kills with SIGKILL and that comes back on its port."""

    def __init__(self, backend_urls: tuple[str, str], key_file, log_dir) -> None:
        self.args = (*backend_urls, key_file)
        self.log_dir = log_dir
        self.lives = 0
        self.proc = self._spawn(None)

    def _spawn(self, port: int | None) -> NodeProcess:
        self.lives += 1
        # These clients send far faster than a person; the frame limit is per connection.
        return NodeProcess(*self.args, self.log_dir / f"node-{id(self)}-{self.lives}.log",
                           port=port, YIZHAN_MESSAGES_PER_MINUTE="100000")

    @property
    def base(self) -> str:
        return self.proc.base

    async def kill(self) -> None:
        self.proc.kill()
        self.proc.log.close()
        # Back on the same port, starting while the clients move to the other node (or
        # retry this one until it is up).
        self.proc = self._spawn(self.proc.port)


async def test_sigkill_schedules_are_exactly_once_in_order(clean, backend_urls, key_file,
                                                          tmp_path) -> None:
    nodes = [Restartable(backend_urls, key_file, tmp_path) for _ in range(2)]
    sides: list[Side] = []
    clients: list[Worker | Staff] = []
    try:
        await asyncio.gather(*(n.proc.ready() for n in nodes))
        await create_counselor(backend_urls[0], key_file, "soak")
        counselor = Staff(nodes[0].base, "soak", PASSWORD)
        clients.append(counselor)
        assert (await counselor.sign_in()).status_code == 201
        cws = await counselor.connect()
        await counselor.on_duty()
        worker = Worker(nodes[1].base)
        clients.append(worker)
        assert (await worker.sign_in()).status_code == 201
        wws = await worker.connect()
        conv = (await worker.request_chat())["conversation_id"]
        await wws.expect("matched", timeout=10)
        await cws.expect("assigned", timeout=10)
        await wws.close()
        await cws.close()

        sides += [Side("worker", "/ws/worker", worker.cookie, conv),
                  Side("counselor", "/ws/staff", counselor.cookie, conv)]
        targets = [Target(n.base, n.kill) for n in nodes]
        seed = int(os.environ.get("YIZHAN_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        for number in range(SCHEDULES):
            try:
                await run_schedule(rng, sides, targets, steps=rng.randrange(4, 12))
            except AssertionError as exc:
                raise AssertionError(f"seed {seed}, schedule {number}: {exc}") from exc
    finally:
        # Whatever happened, no socket or task of this test outlives it.
        for side in sides:
            await side.close()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for n in nodes:
            n.proc.stop()
