"""The core journey through real WebSockets: sign-in, queue, match, chat, end, rating, note."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.clients import Worker, make_staff, matched_pair, ready_pair


async def test_full_conversation(node) -> None:
    counselor = await make_staff(node)
    cws = await counselor.connect()
    await counselor.on_duty()

    worker = Worker(node.base)
    r = await worker.sign_in()
    assert r.status_code == 201, r.text
    assert r.json()["alias"].startswith("职工·")
    wws = await worker.connect()
    queued = await worker.request_chat()
    conv = queued["conversation_id"]

    matched = await wws.expect("matched", timeout=5)
    assert matched["conversation_id"] == conv
    assigned = await cws.expect("assigned", timeout=5)
    assert assigned["conversation"]["id"] == conv
    assert assigned["conversation"]["alias"] == worker.alias

    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w1", "text": "你好"})
    ack = await wws.expect("ack", client_id="w1")
    assert ack["seq"] == 1 and ack["duplicate"] is False
    got = await cws.expect("message", seq=1)
    assert got["text"] == "你好" and got["from"] == "worker"

    await cws.send({"type": "send", "conversation_id": conv, "client_id": "c1",
                    "text": "你好，我在"})
    ack = await cws.expect("ack", client_id="c1")
    assert ack["seq"] == 2
    got = await wws.expect("message", seq=2)
    assert got["from"] == "counselor"

    # Same client_id again: stored once, acknowledged with the same seq.
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w1", "text": "你好"})
    dup = await wws.expect("ack", client_id="w1")
    assert dup["seq"] == 1 and dup["duplicate"] is True

    await wws.send({"type": "end", "conversation_id": conv})
    await wws.expect("ended", conversation_id=conv)
    await cws.expect("ended", conversation_id=conv)

    rating = await worker.http.post(f"/api/worker/conversations/{conv}/rating",
                                    json={"score": 5, "comment": "谢谢你"})
    assert rating.status_code == 201, rating.text
    again = await worker.http.post(f"/api/worker/conversations/{conv}/rating", json={"score": 4})
    assert again.status_code == 409

    note = await counselor.http.put(f"/api/staff/conversations/{conv}/note",
                                    json={"topics": ["工作压力"], "risk_level": "watch",
                                          "text": "睡眠不好"})
    assert note.status_code == 200, note.text
    read = await counselor.http.get(f"/api/staff/conversations/{conv}/note")
    assert read.json()["text"] == "睡眠不好"

    stored = await node.node.services.pool.fetchval(
        "SELECT count(*) FROM messages WHERE conversation_id = $1::uuid", conv)
    assert stored == 2
    await worker.close()
    await counselor.close()


async def test_quick_exit_signs_out_and_closes_the_socket(node) -> None:
    import pytest
    import websockets

    worker = Worker(node.base)
    await worker.sign_in()
    wws = await worker.connect()
    cookie = worker.cookie
    r = await worker.http.post("/api/worker/signout", json={"forget_device": True})
    assert r.status_code == 204
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await wws.recv(5)
    assert closed.value.rcvd.code == 4401
    # The old cookie no longer opens anything.
    from tests.clients import connect

    ws = await connect(node.base.replace("http://", "ws://") + "/ws/worker", cookie)
    with pytest.raises(websockets.ConnectionClosed) as again:
        await ws.recv(5)
    assert again.value.rcvd.code == 4401
    await worker.close()


async def test_seat_is_offered_again_only_after_the_case_note(node) -> None:
    counselor = await make_staff(node, capacity=1)
    cws = await counselor.connect()
    await counselor.on_duty()
    first = Worker(node.base)
    await first.sign_in()
    fws = await first.connect()
    conv = (await first.request_chat())["conversation_id"]
    await fws.expect("matched")
    await cws.expect("assigned")
    second = Worker(node.base)
    await second.sign_in()
    sws = await second.connect()
    await second.request_chat()
    await cws.send({"type": "end", "conversation_id": conv})
    ended = await cws.expect("ended", conversation_id=conv)
    assert ended["wrapup_until"]
    # Wrap-up: the next worker waits while the counselor writes the note.
    import asyncio

    await asyncio.sleep(2.5)
    assert not [f for f in sws.frames if f.get("type") == "matched"]
    r = await counselor.http.put(f"/api/staff/conversations/{conv}/note",
                                 json={"topics": [], "risk_level": "none", "text": ""})
    assert r.status_code == 200
    await sws.expect("matched", timeout=5)
    for c in (first, second, counselor):
        await c.close()


async def test_worker_away_when_it_ended_is_offered_the_rating(node) -> None:
    worker, wws, counselor, cws, conv = await matched_pair(node)
    await wws.close()
    await cws.send({"type": "end", "conversation_id": conv})
    await cws.expect("ended")
    wws = await worker.connect()
    welcome = wws.frames[0]
    assert welcome["conversation"] is None
    assert welcome["last_ended"] == {"id": conv, "by": "counselor", "rated": False}
    await worker.close()
    await counselor.close()


async def test_waiting_workers_hear_their_place_move_up(node_factory) -> None:
    node = await node_factory(signin_per_minute_per_ip=1000)
    workers = [Worker(node.base) for _ in range(3)]
    for w in workers:
        await w.sign_in()
        await w.connect()
        queued = await w.request_chat()
    assert queued["position"] == 3
    # The first leaves: the others are told their new places within about a second.
    await workers[0].ws.send({"type": "leave_queue"})
    await workers[0].ws.expect("left")
    assert (await workers[1].ws.expect("queue", position=1, timeout=4))["conversation_id"]
    await workers[2].ws.expect("queue", position=2, timeout=4)
    for w in workers:
        await w.close()


async def test_a_long_conversation_resyncs_whole_and_in_order(node) -> None:
    from chat_server.chat.store import NewMessage

    worker, wws, counselor, _cws, conv = await matched_pair(node)
    total = 2500  # more than a catch-up page and more than a socket's outbox
    store = node.node.conversations
    for start in range(0, total, 500):
        results = await store.append_batch([
            NewMessage(conv, "worker" if i % 2 else "counselor", f"b{i}", f"m{i}",
                       staff_id=None if i % 2 else counselor.id)
            for i in range(start, start + 500)])
        assert not [r for r in results if isinstance(r, Exception)]
    await wws.close()
    wws = await worker.connect()
    await wws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    synced = await wws.expect("synced", timeout=30)
    seqs = [f["seq"] for f in wws.frames if f.get("type") == "message"]
    assert seqs == list(range(1, total + 1)) and synced["last_seq"] == total
    await worker.sign_in()  # the same browser again: its device unlocks the history
    history = (await worker.http.get("/api/worker/history")).json()["conversations"]
    assert len(history[0]["messages"]) == total
    await worker.close()
    await counselor.close()


async def test_a_message_sent_the_instant_after_a_match_reaches_the_counselor(node) -> None:
    # The counselor hears `assigned` before its node has subscribed to the conversation;
    # a message stored in between must still arrive (caught up after the subscription).
    hub = node.node.hub
    real_subscribe = hub.subscribe

    async def slow_subscribe(channel: str, listener: Any) -> None:
        if channel.startswith("yz:ch:c:"):
            await asyncio.sleep(0.5)
        await real_subscribe(channel, listener)

    worker, wws, counselor, cws = await ready_pair(node)
    hub.subscribe = slow_subscribe
    try:
        conv = (await worker.request_chat())["conversation_id"]
        await wws.expect("matched")
        await wws.send({"type": "send", "conversation_id": conv, "client_id": "first",
                        "text": "你好"})
        await wws.expect("ack")
        await cws.expect("assigned")
        message = await cws.expect("message", timeout=5)
        assert (message["client_id"], message["seq"]) == ("first", 1)
    finally:
        hub.subscribe = real_subscribe
    await worker.close()
    await counselor.close()


async def test_a_counselor_whose_match_announcement_was_lost_is_given_it(node) -> None:
    # Redis lost the announcement of a match (past the hub's retries): the record says
    # who serves the worker, so the counselor's socket is given the conversation and
    # then hears the worker.
    core = node.parts.core
    real_announce = core.matcher.announce_match

    async def lost(*_args: Any, **_kwargs: Any) -> None:
        return None

    worker, wws, counselor, cws = await ready_pair(node)
    core.matcher.announce_match = lost
    try:
        conv = (await worker.request_chat())["conversation_id"]
        for _ in range(50):
            row = await node.node.services.pool.fetchval(
                "SELECT status FROM conversations WHERE id = $1::uuid", conv)
            if row == "active":
                break
            await asyncio.sleep(0.05)
    finally:
        core.matcher.announce_match = real_announce
    await core.upkeep.follow_missed(older_than_s=0)
    assigned = await cws.expect("assigned")
    assert assigned["conversation"]["id"] == conv
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w1", "text": "在吗"})
    message = await cws.expect("message")
    assert message["client_id"] == "w1"
    # Nothing more to mend: the socket follows it now.
    await core.upkeep.follow_missed(older_than_s=0)
    await asyncio.sleep(0.2)
    assert [f for f in cws.frames if f.get("type") == "assigned"] == [assigned]
    await worker.close()
    await counselor.close()


async def test_without_wrapup_an_ended_seat_goes_to_the_next_worker_at_once(node_factory) -> None:
    node = await node_factory(wrapup_s=0)
    first, fws, counselor, cws, conv = await matched_pair(node, capacity=1)
    second = Worker(node.base)
    await second.sign_in()
    sws = await second.connect()
    waiting = (await second.request_chat())["conversation_id"]
    await cws.send({"type": "end", "conversation_id": conv})
    ended = await fws.expect("ended", conversation_id=conv)
    assert ended["by"] == "counselor"
    assert (await sws.expect("matched", timeout=5))["conversation_id"] == waiting
    assert (await cws.expect("assigned"))["conversation"]["id"] == waiting
    row = await node.node.services.pool.fetchrow(
        "SELECT status, ended_by, seat_released_at IS NOT NULL AS released,"
        " seat_released_at = ended_at AS same_commit FROM conversations WHERE id = $1::uuid",
        conv)
    # Freed by the ending itself (one transaction, one now()), not by a later sweep.
    assert dict(row) == {"status": "ended", "ended_by": "counselor", "released": True,
                         "same_commit": True}
    # Ending it again changes nothing and frees no second seat.
    await cws.send({"type": "end", "conversation_id": conv, "ref": "again"})
    assert (await cws.expect("ended", ref="again"))["by"] is None
    assert await node.node.conversations.seat_load(counselor.id) == 1
    for c in (first, second, counselor):
        await c.close()


async def test_a_counselor_cannot_end_a_conversation_handed_to_another(node) -> None:
    worker, _wws, counselor, cws, conv = await matched_pair(node, capacity=1)
    # The record moves on (handed over) while this counselor's socket still remembers it.
    assert await node.node.conversations.requeue(conv, counselor.id) is not None
    assert await node.node.conversations.end(conv, "counselor",
                                             counselor_id=counselor.id) is None
    await cws.send({"type": "end", "conversation_id": conv, "ref": "e"})
    refused = await cws.expect("error", ref="e")
    assert refused["code"] == "not_found"
    row = await node.node.services.pool.fetchrow(
        "SELECT status FROM conversations WHERE id = $1::uuid", conv)
    assert row["status"] == "waiting"
    for c in (worker, counselor):
        await c.close()


async def test_the_queued_reply_comes_before_matched_when_a_seat_is_free(node) -> None:
    # A client that saw `matched` and then the reply `queued` would show the queue again.
    counselor = await make_staff(node, capacity=5)
    await counselor.connect()
    await counselor.on_duty()
    for _ in range(5):
        worker = Worker(node.base)
        await worker.sign_in()
        wws = await worker.connect()
        await wws.send({"type": "request_chat"})
        await wws.expect("matched")
        kinds = [f["type"] for f in wws.frames if f["type"] in ("queued", "matched")]
        assert kinds == ["queued", "matched"]
        await worker.close()
    await counselor.close()


async def test_going_on_duty_is_answered_before_the_first_assignment(node) -> None:
    # Workers are waiting: going on duty matches at once, but the console must hear that
    # it is on duty (the reply and the frame every tab gets) before its first `assigned`.
    workers = []
    for _ in range(3):
        worker = Worker(node.base)
        await worker.sign_in()
        await worker.connect()
        await worker.request_chat()
        workers.append(worker)
    for _ in range(3):
        counselor = await make_staff(node, capacity=1)
        cws = await counselor.connect()
        await cws.send({"type": "duty", "on": True, "ref": "d"})
        await cws.expect("assigned")
        kinds = [(f["type"], f.get("ref")) for f in cws.frames
                 if f["type"] in ("duty", "assigned")]
        assert set(kinds[:2]) == {("duty", None), ("duty", "d")}
        assert kinds[2:] == [("assigned", None)]
        await counselor.close()
    for worker in workers:
        await worker.close()


async def test_the_service_status_follows_duty_at_once_here_and_within_seconds_elsewhere(
        node_factory) -> None:
    import httpx

    here, there = await node_factory(), await node_factory()
    counselor = await make_staff(here)
    cws = await counselor.connect()

    async def on_duty(node: Any) -> int:
        async with httpx.AsyncClient(base_url=node.base) as client:
            return (await client.get("/api/status")).json()["counselors_on_duty"]

    assert await on_duty(here) == await on_duty(there) == 0
    await counselor.on_duty()
    assert await on_duty(here) == 1  # this node changed the seat: no stale figure
    for _ in range(30):  # another node's figure may be up to a second old
        if await on_duty(there) == 1:
            break
        await asyncio.sleep(0.1)
    assert await on_duty(there) == 1
    await cws.send({"type": "duty", "on": False})
    await cws.expect("duty", on=False)
    assert await on_duty(here) == 0
    await counselor.close()


async def test_a_worker_gone_past_the_grace_loses_the_place_to_the_next(node_factory) -> None:
    # Presence renewed every second (a third of the TTL), the grace two seconds, the place
    # kept five (issue 21: stepped over after the grace, dropped after the keeping time).
    node = await node_factory(worker_grace_s=2, worker_keep_s=5, presence_ttl_s=3)
    counselor = await make_staff(node, capacity=1)
    await counselor.connect()
    gone, next_up = Worker(node.base), Worker(node.base)
    for w in (gone, next_up):
        await w.sign_in()
        await w.connect()
    lost = (await gone.request_chat())["conversation_id"]
    waiting = (await next_up.request_chat())["conversation_id"]
    await gone.close()
    await asyncio.sleep(3.5)  # the grace runs out with nobody on duty
    await counselor.on_duty()
    assert (await next_up.ws.expect("matched", timeout=5))["conversation_id"] == waiting
    query = "SELECT status, ended_by FROM conversations WHERE id = $1::uuid"
    row = await node.node.services.pool.fetchrow(query, lost)
    assert dict(row) == {"status": "waiting", "ended_by": None}  # the place is kept
    await asyncio.sleep(2.5)  # now past the keeping time too
    await node.parts.core.matcher.match()
    row = await node.node.services.pool.fetchrow(query, lost)
    assert dict(row) == {"status": "abandoned", "ended_by": "worker_gone"}
    for c in (next_up, counselor):
        await c.close()


async def test_end_is_answered_once_with_its_ref(node) -> None:
    """The ender's socket gets one `ended`, echoing its ref (an outside client waited for
    it in vain); the other side and the ender's other socket get the same without it."""
    worker, wws, counselor, cws, conv = await matched_pair(node)
    cws2 = await counselor.connect()
    await wws.send({"type": "end", "conversation_id": conv, "ref": "bye-1"})
    mine = await wws.expect("ended", conversation_id=conv)
    assert mine["ref"] == "bye-1" and mine["by"] == "worker"
    theirs = await cws.expect("ended", conversation_id=conv)
    assert theirs["by"] == "worker" and "ref" not in theirs
    assert "ref" not in await cws2.expect("ended", conversation_id=conv)
    # Nothing more of it on the ender's socket; ending again is answered from the record.
    await wws.send({"type": "end", "conversation_id": conv, "ref": "bye-2"})
    again = await wws.expect("ended", conversation_id=conv)
    assert again["ref"] == "bye-2" and again["by"] is None
    await asyncio.sleep(0.3)
    while True:
        try:
            await wws.recv(0.3)
        except TimeoutError:
            break
    assert [f.get("ref") for f in wws.frames if f.get("type") == "ended"] == ["bye-1", "bye-2"]
    await worker.close()
    await counselor.close()
