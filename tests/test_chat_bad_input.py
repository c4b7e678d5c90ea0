"""Bad input gets its documented answer and changes nothing."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import websockets

from tests.clients import Worker, connect, make_staff, matched_pair


async def stored(node) -> int:
    return await node.node.services.pool.fetchval("SELECT count(*) FROM messages")


async def test_malformed_unknown_and_invalid_frames(node) -> None:
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    await wws.ws.send("{not json")
    assert (await wws.expect("error"))["code"] == "bad_json"
    await wws.send({"type": "teleport"})
    assert (await wws.expect("error"))["code"] == "unknown_type"
    # A worker may not use counselor frames.
    await wws.send({"type": "duty", "on": True, "ref": "r1"})
    err = await wws.expect("error")
    assert err["code"] == "unknown_type" and err["ref"] == "r1"
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "x" * 65, "text": "hi"})
    assert (await wws.expect("error"))["code"] == "bad_field"
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "a1",
                    "text": "字" * 2001})
    err = await wws.expect("error")
    assert err["code"] == "too_long"
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "a2", "text": "   "})
    assert (await wws.expect("error"))["code"] == "bad_field"
    assert await stored(node) == 0
    await worker.close()
    await counselor.close()


async def test_another_conversation_is_not_found(node) -> None:
    worker, _wws, counselor, _cws, conv = await matched_pair(node)
    stranger = Worker(node.base)
    await stranger.sign_in()
    sws = await stranger.connect()
    for frame in (
        {"type": "send", "conversation_id": conv, "client_id": "s1", "text": "hi"},
        {"type": "sync", "conversation_id": conv, "after_seq": 0},
        {"type": "end", "conversation_id": conv},
        {"type": "send", "conversation_id": str(uuid.uuid4()), "client_id": "s2", "text": "x"},
    ):
        await sws.send(frame)
        assert (await sws.expect("error"))["code"] == "not_found"
    # Another counselor cannot reach it either.
    other = await make_staff(node)
    ows = await other.connect()
    await ows.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    assert (await ows.expect("error"))["code"] == "not_found"
    assert await stored(node) == 0
    status = await node.node.services.pool.fetchval(
        "SELECT status FROM conversations WHERE id = $1::uuid", conv)
    assert status == "active"
    for c in (worker, counselor, stranger, other):
        await c.close()


async def test_oversized_frame_closes_with_1009(node) -> None:
    worker, wws, counselor, _cws, _conv = await matched_pair(node)
    await wws.ws.send('{"type":"ping","pad":"' + "x" * 20000 + '"}')
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await wws.recv(5)
    assert closed.value.rcvd.code == 1009
    assert await stored(node) == 0
    await worker.close()
    await counselor.close()


async def test_flood_is_limited(node_factory) -> None:
    node = await node_factory(messages_per_minute=30)
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    for i in range(20):
        await wws.send({"type": "send", "conversation_id": conv, "client_id": f"f{i}",
                        "text": "hi"})
    acks = errors = 0
    while acks + errors < 20:
        frame = await wws.recv(5)
        if frame["type"] == "ack":
            acks += 1
        elif frame["type"] == "error":
            assert frame["code"] == "rate_limited" and frame["retry_after"] > 0
            errors += 1
    assert errors > 0 and acks < 20
    assert await stored(node) == acks
    # Keeping it up closes the socket as flooding.
    with pytest.raises(websockets.ConnectionClosed) as closed:
        for i in range(100):
            await wws.send({"type": "ping"})
            await wws.send({"type": "send", "conversation_id": conv, "client_id": f"g{i}",
                            "text": "hi"})
        while True:
            await wws.recv(5)
    assert closed.value.rcvd.code == 4429
    assert await stored(node) == acks
    await worker.close()
    await counselor.close()


async def test_wrong_origin_is_refused_before_the_socket_opens(node) -> None:
    worker = Worker(node.base)
    await worker.sign_in()
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(node.ws_url.replace("/ws", "/ws/worker"), worker.cookie,
                      origin="http://evil.example")
    assert refused.value.response.status_code == 403
    # No session at all: accepted, then closed with 4401.
    ws = await connect(node.ws_url.replace("/ws", "/ws/worker"), "yz_w=nothing")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv(5)
    assert closed.value.rcvd.code == 4401
    await worker.close()


async def test_http_bad_input(node) -> None:
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": "http://127.0.0.1"}) as c:
        r = await c.post("/api/worker/session", content=b"[1,2]")
        assert r.status_code == 400 and r.json()["code"] == "bad_json"
        r = await c.post("/api/worker/session",
                         json={"number": "110105194912310021", "consent_version": "2026-11"})
        assert r.status_code == 400 and r.json()["code"] == "invalid_number"
        assert "110105194912310021" not in r.text
        r = await c.post("/api/worker/session", json={"number": "11010519491231002X",
                                                      "consent_version": "old"})
        assert r.status_code == 400 and r.json()["code"] == "consent_required"
        r = await c.post("/api/staff/session", json={"username": "nobody", "password": "x" * 12})
        assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": "http://evil"}) as c:
        r = await c.post("/api/worker/session", json={"number": "11010519491231002X",
                                                      "consent_version": "2026-11"})
        assert r.status_code == 403 and r.json()["code"] == "bad_origin"
    count = await node.node.services.pool.fetchval("SELECT count(*) FROM workers")
    assert count == 0


async def test_every_rate_limited_send_names_the_first_refused_one(node_factory) -> None:
    """The first refusal names itself; later ones name it too, until it is resent."""
    node = await node_factory(messages_per_minute=30)
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    for i in range(12):
        await wws.send({"type": "send", "conversation_id": conv, "client_id": f"f{i}",
                        "text": "hi", "ref": f"r{i}"})
    refusals = []
    for _ in range(12):
        frame = await wws.recv(5)
        if frame["type"] == "error":
            refusals.append(frame)
    assert refusals, "the burst should have been limited"
    first = refusals[0]
    assert first["code"] == "rate_limited" and first["client_id"] == f"f{first['ref'][1:]}"
    assert all(r["client_id"] == first["client_id"] for r in refusals)
    assert first["retry_after_ms"] > 0
    await asyncio.sleep(first["retry_after_ms"] / 1000 + 0.1)
    await wws.send({"type": "send", "conversation_id": conv,
                    "client_id": first["client_id"], "text": "hi"})
    assert (await wws.expect("ack", timeout=5))["client_id"] == first["client_id"]
    await worker.close()
    await counselor.close()
