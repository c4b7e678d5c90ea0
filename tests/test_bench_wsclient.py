"""The benchmark's lean WebSocket client: its frames must be what a server accepts, and
what it hears must be exactly what the server sent, in order (the bench's lost /
duplicated / reordered counts rest on it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from bench.wsclient import Socket, text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_of_any_length_parses_as_the_same_text(size: int) -> None:
    server = ServerProtocol(state=State.OPEN, max_size=None)
    payload = ("驿" * size).encode()[:size]
    server.receive_data(text_frame(payload))
    [frame] = server.events_received()
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data == payload
    assert server.parser_exc is None


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    def only_with_origin(ws: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Origin") != "http://yizhan.test":
            return ws.respond(403, "no\n")
        return None

    async with serve(echo, "127.0.0.1", 0, process_request=only_with_origin) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


async def test_messages_come_back_whole_and_in_order(echo_url: str) -> None:
    heard: asyncio.Queue[bytes] = asyncio.Queue()
    sock = await Socket.connect(echo_url, {"Origin": "http://yizhan.test"}, heard.put_nowait)
    sent = [f"第{i}条：{'累' * (i * 37 % 300)}" for i in range(200)]
    for text in sent:
        sock.send_text(text)
    got = [(await asyncio.wait_for(heard.get(), 5)).decode() for _ in sent]
    assert got == sent
    await sock.close()
    assert sock.transport is None or sock.transport.is_closing()
    with pytest.raises(ConnectionError):
        sock.send_text("after close")


async def test_a_refused_handshake_raises_instead_of_hanging(echo_url: str) -> None:
    with pytest.raises(InvalidStatus):
        await Socket.connect(echo_url, {"Origin": "http://elsewhere.test"}, lambda _: None)
