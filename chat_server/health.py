"""Liveness, readiness and metrics routes."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_CHECK_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services = request.app.state.services
    node = getattr(request.app.state, "node", None)
    if node is not None and node.draining:
        # Stopping on purpose: the balancer should send nobody new here.
        return JSONResponse({"status": "draining"}, status_code=503)
    failed: list[str] = []
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S):
            await services.pool.fetchval("SELECT 1")
    except Exception:
        failed.append("postgres")
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S):
            await services.redis.ping()
    except Exception:
        failed.append("redis")
    if failed:
        return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
