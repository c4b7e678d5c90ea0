"""What the trusted proxy says about the client's scheme, read the way proxies write it.

uvicorn's ProxyHeadersMiddleware believes `X-Forwarded-Proto` only from
YIZHAN_TRUSTED_PROXIES, but only when the header is exactly `http` or `https`: `HTTPS`
or a list such as `http, https` (a chain of proxies, each appending) left the scheme at
`http`, so cookies went out without `Secure`. This middleware runs first and reduces the
header to the value the trusted proxy appended (the last one), in lower case.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

HEADER = b"x-forwarded-proto"


def last_proto(values: list[bytes]) -> bytes:
    """The last comma-separated item of every `X-Forwarded-Proto` line, lower case."""
    items = b",".join(values).split(b",")
    return items[-1].strip().lower()


class ForwardedProto:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            values = [v for k, v in scope["headers"] if k == HEADER]
            if values:
                headers = [(k, v) for k, v in scope["headers"] if k != HEADER]
                headers.append((HEADER, last_proto(values)))
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
