"""Storing messages: the optimistic batch write and its fall-back under row locks.

A batch is read without locks and written in one checked statement; when a conversation
moved on in between (another batch, another node, the conversation ended), that statement
writes nothing and the batch is stored under row locks instead. Either way seqs stay
dense, nothing is stored twice, and nothing acknowledged is missing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest

from chat_server.chat.store import (
    _READ_SQL,
    Appended,
    ConversationStore,
    NewMessage,
    NotActive,
)
from tests.clients import make_staff, matched_pair


def _msg(conv: str, role: str, client_id: str, staff_id: str) -> NewMessage:
    return NewMessage(conv, role, client_id, f"text {client_id}",
                      staff_id=staff_id if role == "counselor" else None)


async def _stored(pool: asyncpg.Pool, conv: str) -> list[tuple[int, str]]:
    rows = await pool.fetch("SELECT seq, client_id FROM messages WHERE conversation_id = $1"
                            " ORDER BY seq", uuid.UUID(conv))
    return [(r["seq"], r["client_id"]) for r in rows]


async def _assert_dense(pool: asyncpg.Pool, conv: str, count: int) -> None:
    """Seqs 1..count, none missing or twice, and no message stored twice."""
    stored = await _stored(pool, conv)
    assert [seq for seq, _ in stored] == list(range(1, count + 1))
    assert len({cid for _, cid in stored}) == len(stored)


def _count_fallbacks(store: ConversationStore, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    locked = store._append_locked

    async def counting(*args: Any) -> Any:
        calls["locked"] += 1
        return await locked(*args)

    monkeypatch.setattr(store, "_append_locked", counting)
    return calls


async def test_concurrent_batches_on_the_same_conversations_stay_dense(
        node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [await matched_pair(node) for _ in range(3)]
    store: ConversationStore = node.node.conversations
    fallbacks = _count_fallbacks(store, monkeypatch)
    convs = [(p[4], p[2].id) for p in pairs]

    async def batch(tag: str) -> list[Appended | Exception]:
        # Every batch touches every conversation, from both sides: they must collide.
        return await store.append_batch([
            _msg(conv, role, f"{tag}-{k}-{role}", staff)
            for k, (conv, staff) in enumerate(convs) for role in ("worker", "counselor")])

    for round_ in range(15):
        results = await asyncio.gather(*(batch(f"r{round_}b{b}") for b in range(4)))
        assert all(isinstance(r, Appended) and not r.duplicate for rs in results for r in rs)
    assert fallbacks["locked"] > 0  # the collisions really took the locked path
    for conv, _ in convs:
        await _assert_dense(store.pool, conv, 15 * 4 * 2)
    for worker, _wws, counselor, _cws, _conv in pairs:
        await worker.close()
        await counselor.close()


async def test_a_resend_in_a_batch_gets_its_first_seq_and_leaves_no_gap(node: Any) -> None:
    worker, _wws, counselor, _cws, conv = await matched_pair(node)
    store: ConversationStore = node.node.conversations
    first = await store.append_batch([_msg(conv, "worker", "a", counselor.id)])
    again = await store.append_batch([_msg(conv, "worker", "a", counselor.id),
                                      _msg(conv, "worker", "b", counselor.id)])
    assert isinstance(first[0], Appended) and isinstance(again[0], Appended)
    assert again[0].duplicate and again[0].seq == first[0].seq == 1
    assert isinstance(again[1], Appended) and (again[1].seq, again[1].duplicate) == (2, False)
    assert await _stored(store.pool, conv) == [(1, "a"), (2, "b")]
    await worker.close()
    await counselor.close()


async def test_a_conversation_ended_after_the_read_takes_nothing(node: Any) -> None:
    worker, _wws, counselor, _cws, conv = await matched_pair(node)
    store: ConversationStore = node.node.conversations
    msgs = [_msg(conv, "worker", "late", counselor.id)]
    async with store.pool.acquire() as conn:
        rows = await conn.fetch(_READ_SQL, [uuid.UUID(conv)])
        await store.end(conv, "counselor")  # between the read and the write
        with pytest.raises(asyncpg.SerializationError):
            await store._write(conn, msgs, [0], rows, {}, checked=True)
    assert await _stored(store.pool, conv) == []
    # The whole path: refused as not active, and still nothing stored.
    results = await store.append_batch(msgs)
    assert isinstance(results[0], NotActive)
    assert await _stored(store.pool, conv) == []
    last_seq = await store.pool.fetchval(
        "SELECT last_seq FROM conversations WHERE id = $1", uuid.UUID(conv))
    assert last_seq == 0
    await worker.close()
    await counselor.close()


async def test_several_batchers_keep_each_conversation_dense_and_in_order(node: Any) -> None:
    from chat_server.chat.writer import MessageWriter

    pairs = [await matched_pair(node) for _ in range(3)]
    store: ConversationStore = node.node.conversations
    writer = MessageWriter(store, workers=3, max_batch=4)
    await writer.start()
    try:
        # Per conversation and side, one send at a time (as a socket's lane does);
        # everything else at once.
        async def side(conv: str, role: str, staff: str) -> list[int]:
            seqs = []
            for k in range(12):
                done = await writer.append(_msg(conv, role, f"{role}-{k}", staff))
                seqs.append(done.seq)
            return seqs

        runs = await asyncio.gather(*(side(p[4], role, p[2].id) for p in pairs
                                      for role in ("worker", "counselor")))
    finally:
        await writer.stop()
    assert all(seqs == sorted(seqs) for seqs in runs)
    for _w, _wws, _c, _cws, conv in pairs:
        await _assert_dense(store.pool, conv, 24)
    for worker, _wws, counselor, _cws, _conv in pairs:
        await worker.close()
        await counselor.close()


async def test_two_nodes_writing_one_conversation_keep_it_dense(node: Any) -> None:
    # Each node remembers what its last write left in the row and skips reading it back;
    # when the other node wrote in between, the checked write must refuse that memory.
    worker, _wws, counselor, _cws, conv = await matched_pair(node)
    here: ConversationStore = node.node.conversations
    there = ConversationStore(here.pool, here.vault)
    for k in range(10):
        for j, (store, role) in enumerate(((here, "worker"), (there, "counselor"),
                                           (here, "worker"))):
            done = await store.append_batch([_msg(conv, role, f"{role}-{k}-{j}",
                                                  counselor.id)])
            assert isinstance(done[0], Appended) and not done[0].duplicate
    both = await asyncio.gather(*(
        store.append_batch([_msg(conv, role, f"{role}-burst-{k}", counselor.id)])
        for k in range(10) for store, role in ((here, "worker"), (there, "counselor"))))
    assert all(isinstance(r[0], Appended) for r in both)
    await _assert_dense(here.pool, conv, 50)
    await worker.close()
    await counselor.close()


async def test_a_remembered_conversation_ended_or_handed_over_elsewhere_takes_nothing(
        node: Any) -> None:
    worker, _wws, counselor, _cws, conv = await matched_pair(node)
    here: ConversationStore = node.node.conversations
    there = ConversationStore(here.pool, here.vault)
    assert isinstance((await here.append_batch([_msg(conv, "worker", "w1", "")]))[0], Appended)
    # Another node hands it to another counselor: the first one's message is refused here.
    other = await make_staff(node)
    assert await there.requeue(conv, counselor.id) is not None
    assert await there.activate_named(conv, other.id) is not None
    refused = await here.append_batch([_msg(conv, "counselor", "c1", counselor.id)])
    assert isinstance(refused[0], NotActive)
    taken = await here.append_batch([_msg(conv, "counselor", "c2", other.id)])
    assert isinstance(taken[0], Appended) and taken[0].seq == 2
    # Another node ends it: nothing more is taken here.
    await there.end(conv, "counselor")
    late = await here.append_batch([_msg(conv, "worker", "w2", "")])
    assert isinstance(late[0], NotActive)
    assert await _stored(here.pool, conv) == [(1, "w1"), (2, "c2")]
    for c in (worker, counselor, other):
        await c.close()
