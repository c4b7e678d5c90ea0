from __future__ import annotations

import httpx


async def test_healthz_readyz_and_page(node) -> None:
    async with httpx.AsyncClient(base_url=node.base) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        page = await client.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert (await client.get("/metrics")).status_code == 200
