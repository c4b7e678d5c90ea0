"""Frames written to one socket in one turn leave in one write, in order, and a close is
never overtaken (unit tests with a recording transport; every end-to-end test in the
suite goes through the same protocol class, see conftest.start_node)."""

from __future__ import annotations

import asyncio

from chat_server.websocket_server import CoalescingTransport, websocket_options


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def one_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_frames_of_one_turn_leave_in_one_write_in_order() -> None:
    raw = RecordingTransport()
    out = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    out.write(b"ack")
    out.write(b"")
    out.write(b"own-copy")
    assert raw.writes == []  # nothing leaves mid-turn
    await one_turn()
    assert raw.writes == [b"ackown-copy"]
    out.write(b"next")
    await one_turn()
    assert raw.writes == [b"ackown-copy", b"next"]


async def test_close_writes_what_is_pending_first() -> None:
    raw = RecordingTransport()
    out = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    out.write(b"last message")
    out.write(b"close frame")
    out.close()
    assert raw.writes == [b"last messageclose frame"] and raw.closed
    await one_turn()  # the scheduled flush finds nothing and writes nothing after close
    assert raw.writes == [b"last messageclose frame"]


async def test_writes_to_a_closed_or_aborted_socket_are_dropped() -> None:
    raw = RecordingTransport()
    out = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    out.write(b"lost with the connection")
    raw.closed = True  # the peer went away before the turn ended
    await one_turn()
    assert raw.writes == []
    raw2 = RecordingTransport()
    out2 = CoalescingTransport(raw2, asyncio.get_running_loop())  # type: ignore[arg-type]
    out2.write(b"pending")
    out2.abort()
    await one_turn()
    assert raw2.writes == [] and raw2.aborted


async def test_everything_else_is_the_transports() -> None:
    raw = RecordingTransport()
    out = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert out.get_extra_info("peername") == "info:peername"
    assert out.is_closing() is False


def test_every_server_uses_the_coalescing_protocol_without_compression() -> None:
    options = websocket_options(4096)
    assert options["ws"].__name__ == "CoalescingWebSocketProtocol"
    assert options["ws_per_message_deflate"] is False
    assert options["ws_max_size"] == 4096
