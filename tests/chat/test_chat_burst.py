"""Many messages at once (group commit): dense seqs, sender order kept, twins stored once."""

from __future__ import annotations

import asyncio

from tests.clients import Worker, make_staff


async def test_a_burst_across_conversations_is_stored_densely_and_in_order(node_factory) -> None:
    node = await node_factory(signin_per_minute_per_ip=1000, messages_per_minute=100000)
    counselor = await make_staff(node, capacity=8)
    cws = await counselor.connect()
    await counselor.on_duty()
    workers = [Worker(node.base) for _ in range(8)]
    for w in workers:
        await w.sign_in()
        await w.connect()
        await w.request_chat()
        await w.ws.expect("matched")
    for _ in workers:
        await cws.expect("assigned")

    per_side = 10
    # Everybody fires without waiting for acks; the counselor's socket carries all eight.
    sends = []
    for w in workers:
        for i in range(per_side):
            sends.append(w.ws.send({"type": "send", "conversation_id": w.conversation_id,
                                    "client_id": f"w{i}", "text": f"w{i}"}))
            sends.append(cws.send({"type": "send", "conversation_id": w.conversation_id,
                                   "client_id": f"c{i}", "text": f"c{i}"}))
        # A twin in the same burst: stored once.
        sends.append(w.ws.send({"type": "send", "conversation_id": w.conversation_id,
                                "client_id": "w0", "text": "w0"}))
    await asyncio.gather(*sends)

    async def acks(ws, n):
        got = []
        while len(got) < n:
            frame = await ws.recv(10)
            if frame["type"] == "ack":
                got.append(frame)
            assert frame["type"] != "error", frame
        return got

    counselor_acks = await acks(cws, per_side * len(workers))
    for w in workers:
        mine = await acks(w.ws, per_side + 1)
        fresh = [a for a in mine if not a["duplicate"]]
        assert [a["client_id"] for a in fresh] == [f"w{i}" for i in range(per_side)]
        seqs = [a["seq"] for a in fresh]
        assert seqs == sorted(seqs), "a sender's messages were stored out of order"
        twin = [a for a in mine if a["duplicate"]]
        assert len(twin) == 1 and twin[0]["seq"] == fresh[0]["seq"]
        rows = await node.node.services.pool.fetch(
            "SELECT seq, client_id, sender_role FROM messages WHERE conversation_id = $1::uuid"
            " ORDER BY seq", w.conversation_id)
        assert [r["seq"] for r in rows] == list(range(1, 2 * per_side + 1))
        c_seqs = [r["seq"] for r in rows if r["sender_role"] == "counselor"]
        c_ids = [r["client_id"] for r in rows if r["sender_role"] == "counselor"]
        assert c_ids == [f"c{i}" for i in range(per_side)] and c_seqs == sorted(c_seqs)
    assert len(counselor_acks) == per_side * len(workers)
    for c in (*workers, counselor):
        await c.close()


async def test_a_burst_of_redis_work_waits_for_a_connection_instead_of_failing(node) -> None:
    # Hundreds of workers asking at once need more Redis connections than a node keeps;
    # the extra work waits a moment for one instead of failing with "too many
    # connections" (a lost match announcement left a counselor deaf to a conversation).
    redis = node.node.services.redis
    # Each holds its connection for 0.1 s (nothing to pop), 300 at once.
    results = await asyncio.gather(
        *(redis.blpop([f"yz:test:empty:{i}"], timeout=0.1) for i in range(300)),
        return_exceptions=True)
    assert [r for r in results if isinstance(r, Exception)] == []
