"""Liveness, readiness and metrics routes."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_CHECK_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(draining: Callable[[], bool], request: Request) -> Response:
    services = request.app.state.services  # the app's own clients (app.py's lifespan)
    if draining():
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


def is_local(request: Request) -> bool:
    """Asked on this host, not through the proxy: loopback peer, no forwarding header.

    Behind a proxy uvicorn replaces the peer with the forwarded client address, so a
    request relayed by nginx for a local client still carries X-Forwarded-For.
    """
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
    return loopback and "x-forwarded-for" not in request.headers


async def metrics(request: Request) -> Response:
    # Refused from outside: figures like queue length help an attacker time an attack.
    # With YIZHAN_METRICS_PORT set this route is not mounted at all.
    if not is_local(request):
        return JSONResponse({"status": "forbidden"}, status_code=403)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
