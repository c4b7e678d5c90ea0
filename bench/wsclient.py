"""A lean WebSocket client for the load generator: one asyncio protocol per socket.

The load generator shares the machine's two cores with the server it measures, so what
it spends per frame is taken from the server and added to every latency it reports.
websockets' asyncio client costs a task wake-up, a queue and an async iterator step per
frame received, and a lock and `secrets` call per frame sent. Here `websockets`' sans-I/O
`ClientProtocol` still does the handshake and parses every frame the server sends
(pings, close, limits), but each text frame goes straight to a callback from
`data_received`, and sending is one `transport.write` of a frame built in place.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable
from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.speedups import apply_mask
from websockets.uri import parse_uri

# The mask only keeps intermediaries from reading client frames as something else
# (RFC 6455 §10.3); a local benchmark has none, so a fast PRNG will do.
_masks = random.Random(6455)


def text_frame(payload: bytes) -> bytes:
    """A single masked, final text frame (what a client must send)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    mask = _masks.randbytes(4)
    return head + mask + apply_mask(payload, mask)


class Socket(asyncio.Protocol):
    """One client WebSocket; `on_text` gets every text message the server sends."""

    def __init__(self, url: str, headers: dict[str, str], on_text: Callable[[bytes], None],
                 max_size: int = 1 << 20) -> None:
        self.url = url
        self.proto = ClientProtocol(parse_uri(url), max_size=max_size)
        self.request = self.proto.connect()
        for name, value in headers.items():
            self.request.headers[name] = value
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._parts: list[bytes] = []  # a fragmented message (the server sends none today)

    @classmethod
    async def connect(cls, url: str, headers: dict[str, str],
                      on_text: Callable[[bytes], None]) -> Socket:
        """Connect and complete the handshake (a minute at most: 10,000 sockets queue)."""
        uri = parse_uri(url)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(60):
            _, sock = await loop.create_connection(
                lambda: cls(url, headers, on_text), uri.host, uri.port)
            await sock.opened
        return sock

    # ---- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.proto.send_request(self.request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Response):
                if self.proto.handshake_exc is not None:
                    self._fail(self.proto.handshake_exc)
                elif not self.opened.done():
                    self.opened.set_result(None)
            elif isinstance(event, Frame):
                self._on_frame(event)
        self._flush()
        if self.proto.close_expected() and self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        self.proto.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(exc or ConnectionError("connection closed"))

    # ---- sending ----------------------------------------------------------------------

    def send_text(self, text: str | bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("socket closed")
        self.transport.write(text_frame(text.encode() if isinstance(text, str) else text))

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.proto.send_close(1000)
            self._flush()
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), 5)
            except (TimeoutError, ConnectionError):
                pass
            if self.transport is not None:
                self.transport.close()

    # ---- internals --------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT or (frame.opcode is Opcode.CONT and self._parts):
            self._parts.append(frame.data)
            if frame.fin:
                data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
                self._parts = []
                self.on_text(data)

    def _flush(self) -> None:
        out = self.proto.data_to_send()
        if out and self.transport is not None:
            data = b"".join(out)
            if data:
                self.transport.write(data)

    def _fail(self, exc: BaseException) -> None:
        for fut in (self.opened, self.closed):
            if not fut.done():
                if fut is self.closed:
                    fut.set_result(None)
                else:
                    fut.set_exception(exc)
                    fut.exception()  # retrieved: a failed connect raises from `connect`
