"""How uvicorn serves our WebSockets, and why a turn's frames to a socket leave together.

A stored message means three frames: the sender's `ack` and its own copy of the message,
back to back on one socket, and the receiver's copy. uvicorn writes each frame to the
socket at once, and on loopback or a busy host each write is a system call that also
does the receiving side's TCP work: at 1,000 conversations those writes were the largest
single cost of a message. Gathering what is written in one turn and writing it when the
turn ends costs no extra wait (nothing else happens in between) and sends the ack and
the sender's copy in one system call; a counselor socket serving several busy
conversations gets all of that turn's frames in one.

Order is kept: bytes leave in the order they were written, and closing writes what is
pending first, so a close frame is never overtaken or lost.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class CoalescingTransport:
    """Wraps a transport: `write` gathers, and one real write happens at the turn's end."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, pause_reading, get_extra_info, …) is the transport's.
        return getattr(self._transport, name)


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, writing through a CoalescingTransport.

    Passed to uvicorn as `ws=` (its documented way to choose the WebSocket protocol);
    everything but the transport is uvicorn's own.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(self.transport, self.loop)  # type: ignore[assignment]


def websocket_options(max_frame_bytes: int) -> dict[str, Any]:
    """uvicorn.Config options for WebSockets, the same for every node (and the tests)."""
    return {
        "ws": CoalescingWebSocketProtocol,
        # Compression costs memory and CPU on short texts, and mixing secrets with
        # attacker-chosen text under compression leaks them.
        "ws_per_message_deflate": False,
        "ws_max_size": max_frame_bytes,
    }


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the node before uvicorn's own shutdown.

    uvicorn stops listening at once and closes every WebSocket with 1012 without waiting
    for frames in flight. `drain` runs first, while the node still listens (so /readyz can
    answer 503 and upgrades are refused with 503), and closes each socket only once its
    frames in flight were answered.
    """

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._drain()
        await super().shutdown(sockets)
