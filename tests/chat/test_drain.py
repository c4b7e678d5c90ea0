"""A node stopped on purpose drains: not ready at once, no new sockets, frames in flight
answered, then every socket closed with 1012 so clients move on with nothing lost."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import httpx
import pytest
import websockets

from chat_server.chat.connection import MAX_IN_FLIGHT
from chat_server.chat.store import Appended, NewMessage
from chat_server.chat.writer import OnStored
from chat_server.wire.protocol import CloseCode
from tests.clients import matched_pair
from tests.conftest import RunningNode


async def test_drain_answers_what_is_in_flight_then_closes_with_1012(
        node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    worker, wws, counselor, cws, conv = await matched_pair(node)
    n = node.node
    # A slow commit, so that a send is surely in flight when the drain starts.
    append = n.writer.append
    committing = asyncio.Event()

    async def slow_append(msg: NewMessage, on_stored: OnStored | None = None) -> Appended:
        committing.set()
        await asyncio.sleep(0.5)
        return await append(msg, on_stored)

    monkeypatch.setattr(n.writer, "append", slow_append)
    await wws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    await wws.expect("synced")
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w-1", "text": "在吗"})
    await asyncio.wait_for(committing.wait(), 5)
    conns = list(node.parts.sockets)
    assert any(c.in_flight._value < MAX_IN_FLIGHT for c in conns)

    draining = asyncio.create_task(node.parts.sockets.drain())
    await asyncio.sleep(0)
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{node.base}/readyz")
    assert r.status_code == 503 and r.json()["status"] == "draining"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await worker.connect()
    assert refused.value.response.status_code == 503

    ack = await wws.expect("ack", client_id="w-1")
    assert ack["seq"] == 1 and ack["duplicate"] is False
    await asyncio.wait_for(draining, 15)
    for ws in (wws, cws):
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv(5)
        assert ws.ws.close_code == CloseCode.SERVICE_RESTART
    stored = await n.conversations.messages_after(conv, 0)
    assert [m.seq for m in stored] == [1]
    await worker.close()
    await counselor.close()


async def test_a_send_is_never_answered_unavailable_when_its_commit_is_unknown(
        node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit went through but its answer was lost: the retry finds it, and the
    client gets the ack (not `unavailable`, which would make it show "not sent")."""
    import asyncpg

    worker, wws, counselor, _cws, conv = await matched_pair(node)
    n = node.node
    append = n.writer.append
    failures = [0]

    async def lost_answer(msg: NewMessage, on_stored: OnStored | None = None) -> Appended:
        result = await append(msg, on_stored)
        if failures[0] < 2:
            failures[0] += 1
            raise asyncpg.ConnectionDoesNotExistError("connection lost during COMMIT")
        return result

    monkeypatch.setattr(n.writer, "append", lost_answer)
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w-1", "text": "你好"})
    frames: list[dict[str, Any]] = []
    while not any(f["type"] == "ack" for f in frames):
        frames.append(await wws.recv(10))
    assert not [f for f in frames if f["type"] == "error"]
    assert [m.seq for m in await n.conversations.messages_after(conv, 0)] == [1]
    await worker.close()
    await counselor.close()


async def test_a_stop_signal_makes_the_node_unready_before_anything_else(
        node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """/readyz says 503 from the signal on, even on a kept-alive connection, and the node
    keeps listening (upgrades answered 503, not refused) while a socket still drains."""
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    n = node.node
    append = n.writer.append
    committing = asyncio.Event()

    async def slow_append(msg: NewMessage, on_stored: OnStored | None = None) -> Appended:
        committing.set()
        await asyncio.sleep(1.0)
        return await append(msg, on_stored)

    monkeypatch.setattr(n.writer, "append", slow_append)
    async with httpx.AsyncClient(base_url=node.base) as http:
        assert (await http.get("/readyz")).status_code == 200  # the connection is kept
        await wws.send({"type": "send", "conversation_id": conv, "client_id": "w-1",
                        "text": "在吗"})
        await asyncio.wait_for(committing.wait(), 5)
        node.server.handle_exit(signal.SIGTERM, None)
        # (uvicorn re-raises a signal it handled once it has stopped: not in a test.)
        node.server._captured_signals.clear()
        assert node.parts.sockets.draining  # in the handler itself, before uvicorn's next tick
        r = await http.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "draining"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await worker.connect()  # still listening: told 503, not refused
    assert refused.value.response.status_code == 503
    assert (await wws.expect("ack", client_id="w-1"))["seq"] == 1
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await wws.recv(5)
    assert wws.ws.close_code == CloseCode.SERVICE_RESTART
    await worker.close()
    await counselor.close()
