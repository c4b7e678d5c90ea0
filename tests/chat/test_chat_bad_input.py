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


async def test_unknown_api_paths_and_methods_are_404_and_405(node) -> None:
    """As PROTOCOL.md says, never the static files' answers (an outside client got 405
    for a POST to an unknown path and 404 for a GET on a POST-only route)."""
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": "http://127.0.0.1"}) as c:
        for method in ("GET", "POST", "PUT", "DELETE"):
            r = await c.request(method, "/api/no/such/path")
            assert r.status_code == 404 and r.json()["code"] == "not_found", method
        for path in ("/api/worker/session", "/api/staff/session"):
            for method in ("GET", "PUT"):
                r = await c.request(method, path)
                assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
                assert "POST" in r.headers["allow"].split(", "), (method, path)
        # The pages are still served as files.
        assert (await c.get("/")).status_code == 200


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


async def test_a_burst_gets_an_answer_per_send_and_is_stored_in_the_order_sent(node) -> None:
    """A burst past the limit after a quiet spell (an outside client found sends admitted
    before the refusal answered by nothing of their own, then stored after their resends)."""
    worker, wws, counselor, cws, conv = await matched_pair(node)
    sent = [f"b{i}" for i in range(14)]
    # One write, so every frame is read before the first is handled.
    await asyncio.gather(*(wws.send({"type": "send", "conversation_id": conv,
                                     "client_id": c, "text": "hi", "ref": c}) for c in sent))
    answers: dict[str, dict] = {}
    while len(answers) < len(sent):
        frame = await wws.recv(5)
        if frame["type"] in ("ack", "error"):
            assert frame["ref"] not in answers, "two answers to one send"
            answers[frame["ref"]] = frame
    acked = [c for c in sent if answers[c]["type"] == "ack"]
    refused = [c for c in sent if answers[c]["type"] == "error"]
    assert refused, "the burst should have been limited"
    # The limit cuts the burst in two: what came before it is stored, in order.
    assert acked == sent[:len(acked)]
    assert [answers[c]["seq"] for c in acked] == sorted(answers[c]["seq"] for c in acked)
    first = refused[0]
    assert all(answers[c]["code"] == "rate_limited" for c in refused)
    assert all(answers[c]["client_id"] == first for c in refused)

    # As documented: wait, then resend the refused one and everything after it, in order.
    await asyncio.sleep(answers[first]["retry_after_ms"] / 1000 + 0.1)
    for c in refused:
        await wws.send({"type": "send", "conversation_id": conv, "client_id": c,
                        "text": "hi", "ref": c})
        ack = await wws.expect("ack", client_id=c)
        assert ack["duplicate"] is False
        await asyncio.sleep(1.1)  # the steady rate
    rows = await node.node.services.pool.fetch(
        "SELECT client_id FROM messages WHERE conversation_id = $1 ORDER BY seq", uuid.UUID(conv))
    assert [r["client_id"] for r in rows] == sent
    # The counselor's live stream: each once, in the order sent.
    seen: list[str] = []
    while len(seen) < len(sent):
        frame = await cws.expect("message", conversation_id=conv)
        seen.append(frame["client_id"])
    assert seen == sent
    await worker.close()
    await counselor.close()
