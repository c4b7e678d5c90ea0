"""PostgreSQL restarted (immediate mode: uncommitted work lost, connections cut) in the
middle of commits: no send is answered `unavailable` after it was stored, and every send
is stored exactly once, in its sender's order, and shown exactly once on both sides."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import asyncpg
import pytest

from chat_server import db
from chat_server.clock import system_clock
from chat_server.ops.embedded import EmbeddedServers
from tests.clients import Worker, make_staff
from tests.conftest import start_node
from tests.resume_schedules import Side, Target, settle

pytestmark = pytest.mark.slow


async def revive(servers: EmbeddedServers) -> None:
    """Start PostgreSQL again, as `yizhan dev` would: it refuses while the killed
    postmaster's backends still hold its shared memory, so try until it starts."""
    for _ in range(100):
        try:
            if await asyncio.to_thread(servers.revive) == ["postgresql"]:
                return
        except subprocess.CalledProcessError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("PostgreSQL did not come back")


async def test_postgres_restart_mid_commit_loses_nothing_and_refuses_nothing(
        settings, key_file, server_tmp) -> None:
    servers = EmbeddedServers(server_tmp / "servers")
    try:
        await asyncio.to_thread(servers.start)
        url = await db.ensure_database(servers.database_url, "yizhan_restart_test")
        conn = await asyncpg.connect(url)
        try:
            await db.migrate(conn, system_clock())
        finally:
            await conn.close()
        node = await start_node(settings.replace(
            database_url=url, redis_url=servers.redis_url, messages_per_minute=100_000))
        try:
            await node.node.queue.redis.flushdb()
            counselor = await make_staff(node)
            cws = await counselor.connect()
            await counselor.on_duty()
            worker = Worker(node.base)
            await worker.sign_in()
            wws = await worker.connect()
            conv = (await worker.request_chat())["conversation_id"]
            await wws.expect("matched", timeout=10)
            await cws.expect("assigned", timeout=10)
            await wws.close()
            await cws.close()
            sides = [Side("worker", "/ws/worker", worker.cookie, conv),
                     Side("counselor", "/ws/staff", counselor.cookie, conv)]
            refusals: list[str] = []
            for side in sides:
                assert await side.connect(node.base)
            for round_ in range(3):
                for side in sides:
                    side.queue(40)
                    await side.pump()
                # Mid-stream: the postmaster dies at once, then comes back.
                await asyncio.sleep(0.02 * (round_ + 1))
                pid = servers.postgres.pid()
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                while servers.postgres.alive():  # noqa: ASYNC110 (a process, not an event)
                    await asyncio.sleep(0.01)
                await revive(servers)
                for side in sides:
                    await side.pump()
            await settle(sides, [Target(node.base, lambda: asyncio.sleep(0))], timeout=60)
            for side in sides:
                refusals += side.refusals
            assert "unavailable" not in refusals
            for side in sides:
                await side.close()
            await worker.close()
            await counselor.close()
        finally:
            await node.stop()
    finally:
        await asyncio.to_thread(servers.stop)
