"""/readyz follows Redis down and back up (a Valkey of this test's own, not the shared one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from chat_server.config import Settings
from chat_server.ops.embedded import EmbeddedValkey
from tests.conftest import start_node


async def wait_for_status(client: httpx.AsyncClient, status: int, within: float = 15) -> dict:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        r = await client.get("/readyz")
        if r.status_code == status:
            return r.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"/readyz stayed {r.status_code}, wanted {status}")
        await asyncio.sleep(0.2)


async def test_readyz_names_redis_while_it_is_down(pg, settings: Settings,
                                                   tmp_path: Path) -> None:
    valkey = EmbeddedValkey(tmp_path / "valkey")
    url = await asyncio.to_thread(valkey.start)
    try:
        node = await start_node(settings.replace(redis_url=url))
        try:
            async with httpx.AsyncClient(base_url=node.base, timeout=10) as client:
                assert (await wait_for_status(client, 200))["status"] == "ready"
                await asyncio.to_thread(valkey.stop)
                body = await wait_for_status(client, 503)
                assert body["failed"] == ["redis"]
                assert (await client.get("/healthz")).status_code == 200  # alive, not ready
                await asyncio.to_thread(valkey.start)
                assert (await wait_for_status(client, 200))["status"] == "ready"
        finally:
            await node.stop()
    finally:
        await asyncio.to_thread(valkey.stop)
