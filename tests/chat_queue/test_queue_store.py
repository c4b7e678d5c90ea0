"""QueueStore and its Lua scripts against a real Redis (Valkey)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import redis.asyncio as aioredis

from chat_queue import keys
from chat_queue.matching import Band, Seat, Waiting, next_match, queue_score
from chat_queue.store import MatchResult, QueueStore, SeatState, Unclaimed

NOW = 1_760_000_000_000
GRACE = 60
TTL = 15


async def test_enqueue_is_idempotent_and_keeps_the_original_place(
    redis: aioredis.Redis,
) -> None:
    store = QueueStore(redis)
    assert await store.enqueue("a", Band.NORMAL, NOW, GRACE)
    assert await store.enqueue("b", Band.NORMAL, NOW + 1, GRACE)
    assert await store.enqueue("a", Band.NORMAL, NOW + 5, GRACE)  # a reconnect, later
    assert await store.positions(["a", "b", "x"]) == {"a": 1, "b": 2, "x": None}
    assert await store.length() == 2


async def test_positions_after_leaves_in_the_middle(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    ids = [f"c{i}" for i in range(10)]
    for i, cid in enumerate(ids):
        await store.enqueue(cid, Band.NORMAL, NOW + i, GRACE)
    assert await store.leave("c3")
    assert await store.leave("c6")
    assert not await store.leave("c6")
    assert await store.positions([]) == {}
    positions = await store.positions(ids)
    assert positions == {
        "c0": 1, "c1": 2, "c2": 3, "c3": None, "c4": 4,
        "c5": 5, "c6": None, "c7": 6, "c8": 7, "c9": 8,
    }  # fmt: skip
    assert not await redis.exists(keys.worker_presence("c3"))


async def test_raise_band_keeps_the_time_and_never_lowers(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    await store.enqueue("old-crisis", Band.CRISIS, NOW + 50, GRACE)
    await store.enqueue("a", Band.NORMAL, NOW, GRACE)
    await store.enqueue("b", Band.NORMAL, NOW + 100, GRACE)
    assert await store.raise_band("b", Band.CRISIS)
    assert await store.positions(["old-crisis", "b", "a"]) == {"old-crisis": 1, "b": 2, "a": 3}
    assert await redis.zscore(keys.QUEUE, "b") == queue_score(Band.CRISIS, NOW + 100)
    assert await store.raise_band("b", Band.NORMAL)  # queued, but not lowered
    assert await store.positions(["b"]) == {"b": 2}
    assert not await store.raise_band("nobody", Band.CRISIS)
    assert await store.length() == 3


async def test_oldest_enqueued_is_across_bands(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    assert await store.oldest_enqueued_ms() is None
    await store.enqueue("crisis", Band.CRISIS, NOW + 500, GRACE)
    await store.enqueue("normal", Band.NORMAL, NOW + 10, GRACE)
    assert await store.oldest_enqueued_ms() == NOW + 10


async def test_recent_waits_are_capped_newest_first(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    assert await store.recent_waits() == []
    for i in range(keys.RECENT_WAITS_CAP + 5):
        await store.record_wait(float(i))
    assert await redis.llen(keys.RECENT_WAITS) == keys.RECENT_WAITS_CAP
    assert await store.recent_waits(3) == [204.0, 203.0, 202.0]
    assert len(await store.recent_waits()) == 50


async def test_match_release_draining_capacity_and_off_duty(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    await store.counselor_on_duty("s1", capacity=1, load=0, now_ms=NOW, ttl_s=TTL)
    await store.counselor_on_duty("s2", capacity=2, load=1, now_ms=NOW - 1000, ttl_s=TTL)
    for i in range(4):
        await store.enqueue(f"w{i}", Band.NORMAL, NOW + i, GRACE)

    batch = await store.match_all(NOW + 10)
    # s1 (load 0) first; then s2 (load 1); then nobody has a free seat.
    assert batch.matches == (MatchResult("w0", "s1"), MatchResult("w1", "s2"))
    assert batch.abandoned == ()
    assert await store.on_duty() == [
        SeatState("s1", 1, 1, False, True),
        SeatState("s2", 2, 2, False, True),
    ]
    assert await redis.zcard(keys.AVAILABLE) == 0

    assert await store.set_draining("s1", True)
    assert await store.release("s1", NOW + 20) == 0
    assert (await store.match_one(NOW + 30)).match is None  # draining gets no new match
    assert await store.set_draining("s1", False)
    assert (await store.match_one(NOW + 40)).match == MatchResult("w2", "s1")

    assert await store.set_capacity("s2", 3)
    assert (await store.match_one(NOW + 50)).match == MatchResult("w3", "s2")
    assert not await store.set_capacity("nobody", 3)
    assert not await store.set_draining("nobody", True)

    assert await store.counselor_off_duty("s2") == 3
    assert not await store.heartbeat("s2", TTL)
    assert [s.staff_id for s in await store.on_duty()] == ["s1"]
    for _ in range(5):  # more releases than conversations: never below zero
        await store.release("s2", NOW + 60)
    assert not await redis.hexists(keys.LOAD, "s2")  # off duty with nothing left: cleaned
    assert await store.release("s1", NOW + 70) == 0


async def test_counselor_presence_expiry_and_heartbeat(redis: aioredis.Redis) -> None:
    """One wait covers both kinds of presence (keeps the suite fast)."""
    store = QueueStore(redis)
    await store.counselor_on_duty("gone", capacity=3, load=0, now_ms=NOW - 5000, ttl_s=1)
    await store.counselor_on_duty("here", capacity=1, load=0, now_ms=NOW, ttl_s=TTL)
    await store.enqueue("dropped", Band.CRISIS, NOW, grace_s=1)
    await store.enqueue("kept", Band.NORMAL, NOW + 1, grace_s=1)
    await store.enqueue("later", Band.NORMAL, NOW + 2, GRACE)
    for _ in range(3):
        await asyncio.sleep(0.4)
        await store.touch_worker("kept", grace_s=1)
    assert await store.is_present(["gone", "here"]) == {"gone": False, "here": True}

    outcome = await store.match_one(NOW + 10)
    assert outcome.abandoned == ("dropped",)
    assert outcome.match == MatchResult("kept", "here")  # "gone" was best but is absent
    assert await redis.zrange(keys.AVAILABLE, 0, -1) == []  # "gone" dropped, "here" full
    assert await store.positions(["dropped", "later"]) == {"dropped": None, "later": 1}

    # A stalled node's heartbeat revives the seat without resetting its load.
    assert await store.heartbeat("gone", TTL)
    assert (await store.match_one(NOW + 20)).match == MatchResult("later", "gone")
    assert [(s.staff_id, s.load, s.present) for s in await store.on_duty()] == [
        ("gone", 1, True),
        ("here", 1, True),
    ]


async def test_unclaim_restores_place_and_seat_once(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    await store.counselor_on_duty("s", capacity=1, load=0, now_ms=NOW, ttl_s=TTL)
    await store.enqueue("first", Band.NORMAL, NOW, GRACE)
    await store.enqueue("second", Band.NORMAL, NOW + 1, GRACE)
    match = (await store.match_one(NOW + 5)).match
    assert match == MatchResult("first", "s")
    assert await store.claimed_by(["first", "second"]) == {"first": "s", "second": None}
    # A reconnect during the match in flight must not queue the worker a second time.
    assert not await store.enqueue("first", Band.NORMAL, NOW, GRACE)

    assert await store.unclaim("first", "other", NOW + 6) is Unclaimed.NOTHING
    assert await store.unclaim("first", "s", NOW + 6) is Unclaimed.REQUEUED
    assert await store.unclaim("first", "s", NOW + 7) is Unclaimed.NOTHING
    assert await store.positions(["first", "second"]) == {"first": 1, "second": 2}
    assert await store.on_duty() == [SeatState("s", 0, 1, False, True)]
    assert (await store.match_one(NOW + 8)).match == MatchResult("first", "s")

    # The worker left meanwhile: the seat comes back, the worker does not.
    await redis.delete(keys.worker_presence("first"))
    assert await store.unclaim("first", "s", NOW + 9) is Unclaimed.WORKER_GONE
    assert await store.positions(["first"]) == {"first": None}
    assert (await store.match_one(NOW + 10)).match == MatchResult("second", "s")


async def test_reconcile_load_counts_matches_in_flight_once(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    await store.counselor_on_duty("s", capacity=3, load=0, now_ms=NOW, ttl_s=TTL)
    for i in range(2):
        await store.enqueue(f"w{i}", Band.NORMAL, NOW + i, GRACE)
    await store.match_all(NOW + 5)
    await redis.hset(keys.LOAD, "s", 7)  # drift, e.g. a release that never came
    # PostgreSQL knows w0 and an older chat "p"; w1 is still in flight.
    before = (await store.seat_changes(["s"]))["s"]
    assert await store.reconcile_load("s", ["p", "w0", "w0"], before) == 3
    await redis.delete(keys.claim("w1"))  # its claim expired unrecorded
    assert await store.reconcile_load("s", ["p", "w0"], before) == 2
    assert await redis.zscore(keys.AVAILABLE, "s") is not None  # 2 < 3: open again


async def test_reconcile_leaves_a_seat_that_changed_after_its_read(redis: aioredis.Redis) -> None:
    """A match made and confirmed between the reconciler's PostgreSQL read and its write is
    in neither the read nor the claims: setting the load then would free a seat the
    counselor does not have (an 11th chat at capacity 10). An end in between would keep a
    freed seat taken. Either way the seat is left alone until the next round."""
    store = QueueStore(redis)
    await store.counselor_on_duty("s", capacity=1, load=0, now_ms=NOW, ttl_s=TTL)
    await store.enqueue("w0", Band.NORMAL, NOW, GRACE)
    await store.enqueue("w1", Band.NORMAL, NOW + 1, GRACE)
    before = (await store.seat_changes(["s"]))["s"]
    # (the reconciler reads PostgreSQL here: no active conversation yet)
    assert (await store.match_one(NOW + 2)).match == MatchResult("w0", "s")
    await store.confirm("w0", "s")  # recorded in PostgreSQL after the read
    assert await store.reconcile_load("s", [], before) is None
    assert await redis.hget(keys.LOAD, "s") == "1"
    assert (await store.match_one(NOW + 3)).match is None  # w1 waits: the seat is full
    # The next round reads afresh and agrees.
    before = (await store.seat_changes(["s"]))["s"]
    assert await store.reconcile_load("s", ["w0"], before) == 1
    # An end between the read and the write: the freed seat is not taken back.
    before = (await store.seat_changes(["s"]))["s"]
    # (PostgreSQL read: w0 still active)
    assert await store.release("s", NOW + 4) == 0
    assert await store.reconcile_load("s", ["w0"], before) is None
    assert (await store.match_one(NOW + 5)).match == MatchResult("w1", "s")


async def test_rebuild_keeps_order_and_is_idempotent(redis: aioredis.Redis) -> None:
    store = QueueStore(redis)
    assert await store.epoch() is None
    await store.enqueue("survivor", Band.NORMAL, NOW + 50, GRACE)  # already there: keeps place
    waiting = [
        Waiting("n2", Band.NORMAL, NOW + 20),
        Waiting("c1", Band.CRISIS, NOW + 90),
        Waiting("n1", Band.NORMAL, NOW + 10),
        Waiting("survivor", Band.NORMAL, NOW + 1),
    ]
    seats = [("s1", 1, 2, NOW - 100), ("s2", 0, 1, NOW - 50)]
    epoch = await store.rebuild(waiting, seats)
    assert await store.rebuild(waiting, seats) == epoch == await store.epoch()
    order = ["c1", "n1", "n2", "survivor"]
    assert await redis.zrange(keys.QUEUE, 0, -1) == order
    assert await store.on_duty() == [
        SeatState("s1", 1, 2, False, True),
        SeatState("s2", 0, 1, False, True),
    ]
    batch = await store.match_all(NOW + 100)
    assert batch.matches == (MatchResult("c1", "s2"), MatchResult("n1", "s1"))


async def test_works_with_a_bytes_client(
    redis: aioredis.Redis, backend_urls: tuple[str, str]
) -> None:
    raw = aioredis.from_url(backend_urls[1], decode_responses=False)
    try:
        store = QueueStore(raw)
        await store.counselor_on_duty("s", capacity=1, load=0, now_ms=NOW, ttl_s=TTL)
        await store.enqueue("w", Band.NORMAL, NOW, GRACE)
        assert (await store.match_one(NOW)).match == MatchResult("w", "s")
        assert await store.on_duty() == [SeatState("s", 1, 1, False, True)]
        assert await store.claimed_by(["w"]) == {"w": "s"}
        assert isinstance(await store.rebuild([], []), str)
    finally:
        await raw.aclose()


# -- the Lua scripts against the pure model -------------------------------------------------


async def _scenario(redis: aioredis.Redis, rng: random.Random) -> int:
    """Random seats, queue and releases; every Redis match must be the model's. Returns matches."""
    await redis.flushdb()
    store = QueueStore(redis)
    # Few distinct times and loads, so ties (and their tie-breaks) are common.
    seats = {
        f"s{i}": Seat(
            f"s{i}",
            load=rng.randint(0, 2),
            capacity=rng.randint(0, 3),
            idle_since_ms=NOW - rng.randint(0, 3),
            draining=rng.random() < 0.2,
        )
        for i in range(rng.randint(0, 6))
    }
    for s in seats.values():
        await store.counselor_on_duty(s.staff_id, s.capacity, s.load, s.idle_since_ms, TTL)
        if s.draining:
            await store.set_draining(s.staff_id, True)
    waiting: dict[str, Waiting] = {}
    count = 0
    for step in range(rng.randint(5, 25)):
        now = NOW + 100 + step
        roll = rng.random()
        if roll < 0.35:
            w = Waiting(f"w{step}", rng.choice(list(Band)), NOW + rng.randint(0, 5))
            waiting[w.conversation_id] = w
            await store.enqueue(w.conversation_id, w.band, w.enqueued_ms, GRACE)
        elif roll < 0.5 and any(s.load > 0 for s in seats.values()):
            s = rng.choice([s for s in seats.values() if s.load > 0])
            seats[s.staff_id] = Seat(s.staff_id, s.load - 1, s.capacity, now, s.draining)
            await store.release(s.staff_id, now)
        elif roll < 0.55 and waiting:
            gone = rng.choice(sorted(waiting))
            del waiting[gone]
            assert await store.leave(gone)
        else:
            expected = next_match(list(waiting.values()), list(seats.values()))
            outcome = await store.match_one(now)
            assert outcome.abandoned == ()
            if expected is None:
                assert outcome.match is None
                continue
            w, s = expected
            assert outcome.match == MatchResult(w.conversation_id, s.staff_id)
            del waiting[w.conversation_id]
            seats[s.staff_id] = Seat(
                s.staff_id, s.load + 1, s.capacity, s.idle_since_ms, s.draining
            )
            count += 1
    return count


async def test_lua_matcher_agrees_with_the_pure_model(redis: aioredis.Redis) -> None:
    rng = random.Random(20250601)
    matches = [await _scenario(redis, rng) for _ in range(100)]
    assert sum(matches) > 100  # the scenarios really exercise matching


# -- many nodes at once ----------------------------------------------------------------------


async def test_concurrent_matchers_never_double_book(
    redis: aioredis.Redis, backend_urls: tuple[str, str]
) -> None:
    rng = random.Random(7)
    seed = QueueStore(redis)
    capacity = {f"s{i:02}": rng.randint(1, 3) for i in range(20)}
    for i, (staff, cap) in enumerate(capacity.items()):
        await seed.counselor_on_duty(staff, cap, 0, NOW - i, TTL)
    workers = [
        Waiting(f"w{i:02}", Band.CRISIS if rng.random() < 0.2 else Band.NORMAL, NOW + i)
        for i in range(50)
    ]
    for w in workers:
        await seed.enqueue(w.conversation_id, w.band, w.enqueued_ms, GRACE)

    # Separate clients, each with its own connections, stand for separate app nodes.
    nodes = [aioredis.from_url(backend_urls[1], decode_responses=True) for _ in range(8)]
    try:
        stores = [QueueStore(n) for n in nodes]
        outcomes = await asyncio.gather(
            *(stores[i % 8].match_one(NOW + 1000) for i in range(120))
        )
    finally:
        for n in nodes:
            await n.aclose()

    matches = [o.match for o in outcomes if o.match is not None]
    conversations = [m.conversation_id for m in matches]
    assert len(conversations) == len(set(conversations)), "a worker went to two counselors"
    per_staff = Counter(m.staff_id for m in matches)
    assert all(per_staff[s] <= capacity[s] for s in capacity), "a counselor over capacity"
    assert len(matches) == min(len(workers), sum(capacity.values()))
    # First come first served within each band: exactly the heads of the queue were taken.
    queue_order = sorted(workers, key=lambda w: (w.band, w.enqueued_ms))
    assert set(conversations) == {w.conversation_id for w in queue_order[: len(matches)]}
    state = {s.staff_id: s for s in await seed.on_duty()}
    assert all(state[s].load == per_staff[s] for s in capacity)
    assert await seed.length() == len(workers) - len(matches)


async def test_a_worker_away_past_grace_is_stepped_over_and_keeps_the_place(
    redis: aioredis.Redis,
) -> None:
    """Issue 21: the matcher serves the next worker, by the node's clock, not Redis's."""
    store = QueueStore(redis)
    minute, keep = 60_000, 600_000
    await store.counselor_on_duty("c", capacity=2, load=0, now_ms=NOW, ttl_s=TTL)
    await store.enqueue("backgrounded", Band.NORMAL, NOW, keep // 1000, seen_ms=NOW)
    await store.enqueue("gone", Band.CRISIS, NOW + 1, keep // 1000, seen_ms=NOW - keep)
    await store.enqueue("here", Band.NORMAL, NOW + 2, keep // 1000, seen_ms=NOW + 5 * minute)
    later = NOW + 5 * minute

    outcome = await store.match_one(later, grace_ms=minute, keep_ms=keep)
    assert outcome.abandoned == ("gone",)  # away longer than the keep time: dropped
    assert outcome.match == MatchResult("here", "c")  # "backgrounded" stepped over
    assert await store.positions(["backgrounded"]) == {"backgrounded": 1}  # place kept
    assert await store.last_seen(["backgrounded", "gone"]) == {
        "backgrounded": NOW, "gone": NOW - keep}

    # Back from the background: served at once, at the original place.
    await store.touch_worker("backgrounded", keep // 1000, seen_ms=later)
    outcome = await store.match_one(later, grace_ms=minute, keep_ms=keep)
    assert outcome.match == MatchResult("backgrounded", "c")


async def test_workers_away_from_a_chat_are_noted_once_and_forgotten_on_return(
    redis: aioredis.Redis,
) -> None:
    store = QueueStore(redis)
    assert await store.worker_left("a", NOW)
    assert not await store.worker_left("a", NOW + 5)  # told once; the first moment kept
    assert await store.away_since(["a", "b"]) == {"a": NOW, "b": None}
    assert await store.gone_before(NOW - 1) == []
    assert await store.gone_before(NOW) == ["a"]
    assert await store.worker_returned("a", NOW + 10)
    assert await store.gone_before(NOW + 10) == []
