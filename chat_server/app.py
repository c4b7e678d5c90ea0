"""The Starlette application: routes, middleware and the lifespan that opens pools."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from chat_server import db, health
from chat_server.config import Settings
from chat_server.forwarded import ForwardedProto
from chat_server.services import Services

log = logging.getLogger("yizhan.app")

# Beside the package in a checkout and in an installed wheel alike (pyproject.toml ships
# web_client/ as a top-level directory of the distribution).
WEB_CLIENT_DIR = Path(__file__).resolve().parent.parent / "web_client"
# Redis connections per node (the subscriber holds one for good).
REDIS_CONNECTIONS = 64



def content_security_policy(allowed_origins: Sequence[str]) -> str:
    """No inline scripts or styles anywhere; no third-party origins.

    The WebSocket origins are listed explicitly: older engines (WeChat's among them) do
    not let 'self' cover ws:/wss:.
    """
    sockets = " ".join(
        o.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        for o in allowed_origins
    )
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {sockets}; media-src 'self' data:; font-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [(b"content-security-policy", csp.encode()), *SECURITY_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                if scope["path"].startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


Feature = Callable[[Services], contextlib.AbstractAsyncContextManager[None]]


# Under /api/, what no route answered: never the static files, which answered a POST to an
# unknown path with 405 (Allow: GET, HEAD) and a GET on a POST-only route with 404.
API_FALLBACK = "/api/{rest:path}"
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def no_such_api(routes: Sequence[BaseRoute], request: Request) -> Response:
    """404 for a path no route has; 405 with the methods it takes for one that has it."""
    allowed: set[str] = set()
    for route in routes:
        # PARTIAL: the path matches, the method does not (a FULL match never gets here).
        if isinstance(route, Route) and route.methods and \
                route.matches(request.scope)[0] is not Match.NONE:
            allowed |= route.methods
    if allowed:
        raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
    raise HTTPException(404)


def create_app(
    settings: Settings,
    *,
    routes: Sequence[BaseRoute] = (),
    features: Sequence[Feature] = (),
    draining: Callable[[], bool] = lambda: False,
) -> Starlette:
    """Build the app. `features` open per-node machinery (hub, sweepers) inside the lifespan;
    `draining` says the node is stopping on purpose (/readyz answers 503)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert settings.database_url and settings.redis_url, "URLs are resolved by the CLI"
        pool = await db.create_pool(settings.database_url)
        # A blocking pool: a burst (hundreds of workers asking at once) waits a moment for
        # a free connection instead of failing with "too many connections" — a failed
        # publish of a match once left a counselor never following the conversation.
        redis = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=REDIS_CONNECTIONS, timeout=5,
            socket_timeout=5, socket_connect_timeout=2, health_check_interval=10,
        ))
        try:
            async with pool.acquire() as conn:
                # Nodes never run DDL (their role may not): `yizhan migrate` does.
                await db.check_version(conn)
            services = Services(settings=settings, pool=pool, redis=redis)
            app.state.services = services
            async with contextlib.AsyncExitStack() as stack:
                for feature in features:
                    await stack.enter_async_context(feature(services))
                yield
        finally:
            await redis.aclose()
            await pool.close()

    all_routes: list[BaseRoute] = [
        Route("/healthz", health.healthz),
        Route("/readyz", functools.partial(health.readyz, draining)),
        *([Route("/metrics", health.metrics)] if settings.metrics_port is None else []),
        *routes,
        Route(API_FALLBACK, functools.partial(no_such_api, routes), methods=HTTP_METHODS),
        Mount("/", StaticFiles(directory=WEB_CLIENT_DIR, html=True), name="web"),
    ]
    return Starlette(
        routes=all_routes, lifespan=lifespan, middleware=[
            # The client's address and scheme as the trusted proxy saw them (rate limits
            # per source; Secure cookies behind TLS). Nobody else's forwarded headers count.
            Middleware(ForwardedProto),
            Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies)),
            Middleware(SecurityHeaders, csp=content_security_policy(settings.allowed_origins)),
        ]
    )
