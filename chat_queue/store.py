"""The waiting queue and counselor seats in Redis: a thin pump around chat_queue.matching.

Redis is not the record. PostgreSQL holds every conversation and who serves it; Redis
holds what must be decided atomically across app nodes (who is next, who takes them) and
can be rebuilt from PostgreSQL with rebuild() whenever epoch() returns None.

Limits, and what happens at each (keys and their TTLs are listed in chat_queue.keys):

- Worker presence: a key whose value is the node ms of the waiting worker's last sign
  of life (enqueue, touch_worker), TTL the place-keeping time (the server passes
  `worker_keep_s`, 10 minutes by default). The matcher serves a worker seen within
  `grace_ms`; one seen longer ago is stepped over (the place is kept, the next worker is
  served) until `keep_ms` has passed, then the entry is dropped as abandoned when the
  matcher reaches it. Entries behind the one served are not swept, so positions may
  count a few departed workers.
- Workers away from an active conversation: a sorted set of when each was first told
  away (node ms); the server ends the conversation after the place-keeping time.
- Counselor presence: TTL `ttl_s` (DEFAULT_COUNSELOR_TTL_S = 15 s, heartbeat). Once it
  expires the matcher skips the counselor and removes them from the available set; they
  stay on duty (present=False on the board) until a heartbeat revives the seat or the
  server calls counselor_off_duty.
- Claim of a match: TTL `claim_ttl_s` (default 60 s). While it lives the conversation
  cannot be queued again (no worker goes to two counselors), unclaim() can undo the match
  and reconcile_load() counts it. The server must record the match in PostgreSQL, or call
  unclaim(), within that time; after it unclaim() does nothing.
- Abandoned entries dropped per match call: `max_abandoned` (default 100), which bounds
  the time one script holds Redis. match_all() keeps calling while there are more. The
  same bound applies to entries stepped over (workers away within the keeping time): with
  more than that many away at the head of the queue, nobody behind them is matched until
  some return or lose their place.
- Recent waits: the newest keys.RECENT_WAITS_CAP (200) are kept.
- Scores are exact doubles: enqueued_ms and idle_since_ms below 10**13 (year 2286), load
  and capacity at most matching.MAX_LOAD (899). Larger values raise QueueError.
- One Redis primary: scripts build presence and claim keys from prefixes, so the keys of
  the queue are not to be spread over a cluster.

Loads are counters. The server must call release() exactly once per ended conversation
and unclaim() only for a match it did not record; reconcile_load() corrects drift.
Works with clients built with decode_responses either True or False.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

from redis.asyncio import Redis

from chat_queue import keys
from chat_queue.errors import QueueError
from chat_queue.matching import (
    BAND_WEIGHT,
    LOAD_WEIGHT,
    MAX_LOAD,
    Band,
    Waiting,
    counselor_score,
    queue_score,
    split_queue_score,
)
from chat_queue.scripts import Scripts, register

DEFAULT_COUNSELOR_TTL_S = 15
DEFAULT_GRACE_S = 120
DEFAULT_CLAIM_TTL_S = 60
DEFAULT_MAX_ABANDONED = 100


@dataclass(frozen=True, slots=True)
class MatchResult:
    conversation_id: str
    staff_id: str


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """One matcher run: at most one match, and the waiting entries it dropped as abandoned."""

    match: MatchResult | None
    abandoned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchBatch:
    """Several matcher runs: matches in the order made, and every abandoned conversation."""

    matches: tuple[MatchResult, ...]
    abandoned: tuple[str, ...]


class Unclaimed(IntEnum):
    NOTHING = 0  # no live claim of this conversation by this counselor: nothing changed
    REQUEUED = 1  # load given back; the worker is back at the original place
    WORKER_GONE = 2  # load given back; the worker's presence had expired, not re-queued


@dataclass(frozen=True, slots=True)
class SeatState:
    """A counselor on duty, for the supervisor board."""

    staff_id: str
    load: int
    capacity: int
    draining: bool
    present: bool

    @property
    def free(self) -> int:
        """Conversations this counselor could take now."""
        if self.draining or not self.present:
            return 0
        return max(0, self.capacity - self.load)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _seen(seen_ms: int | None) -> str:
    # '1' = present, time unknown (see lua/match.lua); real stamps are far above it.
    return "1" if seen_ms is None else str(int(seen_ms))


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise QueueError(f"{name} must be at least 1: {value}")


def _count(name: str, value: int) -> None:
    if not 0 <= value <= MAX_LOAD:
        raise QueueError(f"{name} out of range: {value}")


class QueueStore:
    def __init__(
        self,
        redis: Redis,
        *,
        claim_ttl_s: int = DEFAULT_CLAIM_TTL_S,
        max_abandoned: int = DEFAULT_MAX_ABANDONED,
    ) -> None:
        _positive("claim_ttl_s", claim_ttl_s)
        _positive("max_abandoned", max_abandoned)
        self.redis = redis
        self.claim_ttl_s = claim_ttl_s  # how long a match may stay unrecorded
        self.max_abandoned = max_abandoned  # bound on one script's work
        self._scripts: Scripts = register(redis)

    @staticmethod
    def _seat_keys(staff_id: str) -> list[str]:
        # The KEYS prefix shared by every seat script (see lua/_seat.lua).
        return [
            keys.AVAILABLE,
            keys.CAPACITY,
            keys.LOAD,
            keys.IDLE_SINCE,
            keys.DRAINING,
            keys.counselor_presence(staff_id),
        ]

    @classmethod
    def _counted_seat_keys(cls, staff_id: str) -> list[str]:
        # For a seat script that also changes what the load is made of (keys.SEAT_CHANGES).
        return [*cls._seat_keys(staff_id), keys.SEAT_CHANGES]

    # -- waiting workers ------------------------------------------------------------------

    async def enqueue(
        self, conversation_id: str, band: Band, enqueued_ms: int, grace_s: int,
        seen_ms: int | None = None,
    ) -> bool:
        """Queue (idempotent: an entry keeps its place); False if a match is in flight.

        `grace_s` is the presence TTL (the place-keeping time); `seen_ms` the node time of
        this sign of life (None: unknown, the worker counts as present until the TTL)."""
        _positive("grace_s", grace_s)
        score = queue_score(band, enqueued_ms)
        done = await self._scripts.enqueue(
            keys=[keys.QUEUE, keys.worker_presence(conversation_id), keys.claim(conversation_id)],
            args=[conversation_id, repr(score), grace_s, _seen(seen_ms)],
        )
        return bool(done)

    async def touch_worker(self, conversation_id: str, grace_s: int,
                           seen_ms: int | None = None) -> None:
        """Heartbeat of a connected waiting worker: the place is kept `grace_s` more."""
        _positive("grace_s", grace_s)
        await self.redis.set(keys.worker_presence(conversation_id), _seen(seen_ms), ex=grace_s)

    async def touch_workers(self, conversation_ids: Sequence[str], grace_s: int,
                            seen_ms: int | None = None) -> None:
        """touch_worker for many conversations in one round trip."""
        _positive("grace_s", grace_s)
        if not conversation_ids:
            return
        await self._scripts.touch_workers(
            keys=[keys.worker_presence(c) for c in conversation_ids],
            args=[grace_s, _seen(seen_ms)])

    async def last_seen(self, conversation_ids: Sequence[str]) -> dict[str, int | None]:
        """Node ms of each waiting worker's last sign of life (None: gone or unknown)."""
        if not conversation_ids:
            return {}
        values = await self.redis.mget([keys.worker_presence(c) for c in conversation_ids])
        seen: dict[str, int | None] = {}
        for cid, v in zip(conversation_ids, values, strict=True):
            ms = int(_text(v)) if v is not None else 0
            seen[cid] = ms if ms > 1 else None
        return seen

    # -- worker links (is the worker of an active conversation connected anywhere?) -------

    async def link_workers(self, conversation_ids: Sequence[str], until_ms: int) -> None:
        """The workers of these active conversations are connected here until `until_ms`."""
        if conversation_ids:
            await self.redis.zadd(keys.WORKER_LINKS, dict.fromkeys(conversation_ids, until_ms))

    async def worker_returned(self, conversation_id: str, until_ms: int) -> bool:
        """Link the worker again; True if `worker_away` had been told (so tell `back`)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.WORKER_LINKS, {conversation_id: until_ms})
            pipe.getdel(keys.worker_away(conversation_id))
            pipe.zrem(keys.WORKERS_AWAY, conversation_id)
            _, was_away, _ = await pipe.execute()
        return was_away is not None

    async def worker_left(self, conversation_id: str, now_ms: int | None = None) -> bool:
        """Unlink the worker; True if this call is the one to tell `worker_away`.

        With `now_ms`, the moment is noted (the first one wins) for away_since/gone_before."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.WORKER_LINKS, conversation_id)
            pipe.set(keys.worker_away(conversation_id), "1", nx=True,
                     ex=keys.WORKER_AWAY_TTL_S)
            if now_ms is not None:
                pipe.zadd(keys.WORKERS_AWAY, {conversation_id: now_ms}, nx=True)
            replies = await pipe.execute()
        return bool(replies[1])

    async def lapsed_workers(self, now_ms: int) -> list[str]:
        """Conversations whose worker's link expired (its node died); each is returned to
        one caller only (ZREM answers 1 to one of them), who tells `worker_away`."""
        expired = await self.redis.zrangebyscore(keys.WORKER_LINKS, "-inf", now_ms)
        mine: list[str] = []
        for member in expired:
            conv = member.decode() if isinstance(member, bytes) else str(member)
            if await self.worker_left(conv, now_ms):
                mine.append(conv)
        return mine

    async def away_since(self, conversation_ids: Sequence[str]) -> dict[str, int | None]:
        """When each active conversation's worker was told away (node ms), or None."""
        if not conversation_ids:
            return {}
        scores = await self.redis.zmscore(keys.WORKERS_AWAY, list(conversation_ids))
        return {c: None if s is None else int(s)
                for c, s in zip(conversation_ids, scores, strict=True)}

    async def gone_before(self, before_ms: int) -> list[str]:
        """Active conversations whose worker has been away since before `before_ms`."""
        # Without withscores, members only (redis-py types the call for both forms).
        members = cast("list[bytes]", await self.redis.zrangebyscore(
            keys.WORKERS_AWAY, "-inf", before_ms))
        return [_text(m) for m in members]

    async def forget_away(self, conversation_id: str) -> None:
        """The conversation ended: nothing is left to release."""
        await self.redis.zrem(keys.WORKERS_AWAY, conversation_id)

    async def leave(self, conversation_id: str) -> bool:
        """Remove from the queue; True if it was queued."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.QUEUE, conversation_id)
            pipe.delete(keys.worker_presence(conversation_id))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def raise_band(self, conversation_id: str, band: Band) -> bool:
        """Move to `band` if that is more urgent, keeping the time of joining.

        True if the conversation is queued. A band is never lowered. A conversation in a
        match in flight is not queued: if that match is undone it returns to its old band.
        """
        score = await self.redis.zscore(keys.QUEUE, conversation_id)
        if score is None:
            return False
        _, enqueued_ms = split_queue_score(score)
        # XX: a concurrent match or leave wins (no resurrection); LT: never less urgent.
        await self.redis.zadd(
            keys.QUEUE, {conversation_id: queue_score(band, enqueued_ms)}, xx=True, lt=True
        )
        return True

    async def move_ahead(self, conversation_id: str, band: Band, enqueued_ms: int) -> bool:
        """Give a queued conversation an earlier place (never a later one); True if queued.
        A booked chat whose counselor is busy waits at the front this way."""
        changed = await self.redis.zadd(
            keys.QUEUE, {conversation_id: queue_score(band, enqueued_ms)}, xx=True, lt=True,
            ch=True)
        return bool(changed) or await self.redis.zscore(keys.QUEUE, conversation_id) is not None

    async def positions(self, conversation_ids: Sequence[str]) -> dict[str, int | None]:
        """1-based places in the queue (None if not queued), in one command."""
        if not conversation_ids:
            return {}
        ranks = await self._scripts.positions(keys=[keys.QUEUE], args=list(conversation_ids))
        return {
            cid: None if int(rank) < 0 else int(rank) + 1
            for cid, rank in zip(conversation_ids, ranks, strict=True)
        }

    async def length(self) -> int:
        return int(await self.redis.zcard(keys.QUEUE))

    async def oldest_enqueued_ms(self) -> int | None:
        """When the longest-waiting worker joined (across bands), or None if none waits."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for band in Band:
                low = int(band) * BAND_WEIGHT
                pipe.zrangebyscore(
                    keys.QUEUE, low, low + BAND_WEIGHT - 1, start=0, num=1, withscores=True
                )
            heads = await pipe.execute()
        times = [split_queue_score(score)[1] for head in heads for _, score in head]
        return min(times, default=None)

    async def record_wait(self, seconds: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.RECENT_WAITS, repr(float(seconds)))
            pipe.ltrim(keys.RECENT_WAITS, 0, keys.RECENT_WAITS_CAP - 1)
            await pipe.execute()

    async def recent_waits(self, n: int = 50) -> list[float]:
        """The newest `n` recorded waits (seconds), newest first."""
        if n < 1:
            return []
        values = await self.redis.lrange(keys.RECENT_WAITS, 0, n - 1)
        return [float(v) for v in values]

    # -- counselors -----------------------------------------------------------------------

    async def counselor_on_duty(
        self, staff_id: str, capacity: int, load: int, now_ms: int, ttl_s: int
    ) -> None:
        """Come on duty with `load` conversations already open (counted in PostgreSQL)."""
        await self._on_duty(staff_id, capacity, load, now_ms, ttl_s, keep=False)

    async def _on_duty(
        self, staff_id: str, capacity: int, load: int, idle_ms: int, ttl_s: int, *, keep: bool
    ) -> None:
        _count("capacity", capacity)
        counselor_score(load, idle_ms)  # validates load and time before anything is written
        _positive("ttl_s", ttl_s)
        await self._scripts.on_duty(
            keys=self._counted_seat_keys(staff_id),
            args=[staff_id, capacity, load, idle_ms, ttl_s, LOAD_WEIGHT, "1" if keep else "0"],
        )

    async def heartbeat(self, staff_id: str, ttl_s: int) -> bool:
        """Renew presence; False if not on duty (call counselor_on_duty again)."""
        _positive("ttl_s", ttl_s)
        on = await self._scripts.heartbeat(
            keys=self._seat_keys(staff_id), args=[staff_id, ttl_s, LOAD_WEIGHT]
        )
        return bool(on)

    async def counselor_off_duty(self, staff_id: str) -> int:
        """No new matches; returns the load left (release() brings it down as chats end)."""
        left = await self._scripts.off_duty(keys=self._seat_keys(staff_id), args=[staff_id])
        return int(left)

    async def set_draining(self, staff_id: str, draining: bool) -> bool:
        """Draining: keep current conversations, get no new one. False if not on duty."""
        done = await self._scripts.seat(
            keys=self._seat_keys(staff_id),
            args=[staff_id, LOAD_WEIGHT, "drain" if draining else "undrain", 0],
        )
        return bool(done)

    async def set_capacity(self, staff_id: str, capacity: int) -> bool:
        """False if not on duty. Lowering below the load ends no conversation."""
        _count("capacity", capacity)
        done = await self._scripts.seat(
            keys=self._seat_keys(staff_id), args=[staff_id, LOAD_WEIGHT, "capacity", capacity]
        )
        return bool(done)

    async def release(self, staff_id: str, now_ms: int) -> int:
        """A conversation of this counselor ended; returns the new load (never below 0)."""
        counselor_score(0, now_ms)
        load = await self._scripts.release(
            keys=self._counted_seat_keys(staff_id),
            args=[staff_id, now_ms, LOAD_WEIGHT],
        )
        return int(load)

    async def on_duty(self) -> list[SeatState]:
        """Every counselor on duty, present or not, sorted by staff id."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.CAPACITY)
            pipe.hgetall(keys.LOAD)
            pipe.smembers(keys.DRAINING)
            caps, loads, draining = await pipe.execute()
        capacity = {_text(k): int(v) for k, v in caps.items()}
        load = {_text(k): int(v) for k, v in loads.items()}
        drained = {_text(s) for s in draining}
        staff = sorted(capacity)
        present = await self.is_present(staff)
        return [
            SeatState(s, load.get(s, 0), capacity[s], s in drained, present[s]) for s in staff
        ]

    async def is_present(self, staff_ids: Sequence[str]) -> dict[str, bool]:
        if not staff_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for staff_id in staff_ids:
                pipe.exists(keys.counselor_presence(staff_id))
            found = await pipe.execute()
        return {s: bool(f) for s, f in zip(staff_ids, found, strict=True)}

    # -- matching -------------------------------------------------------------------------

    async def match_one(self, now_ms: int, grace_ms: int = 0, keep_ms: int = 0) -> MatchOutcome:
        """Run the matcher once (see lua/match.lua and matching.next_match).

        A waiting worker last seen more than `grace_ms` ago is stepped over (0: never), one
        last seen more than `keep_ms` ago is dropped as abandoned (0: only by the TTL)."""
        reply = await self._scripts.match(
            keys=[
                keys.QUEUE,
                keys.AVAILABLE,
                keys.CAPACITY,
                keys.LOAD,
                keys.IDLE_SINCE,
                keys.DRAINING,
                keys.SEAT_CHANGES,
            ],
            args=[
                now_ms,
                keys.WORKER_PRESENCE,
                keys.COUNSELOR_PRESENCE,
                keys.CLAIM,
                keys.CLAIMS_OF,
                self.claim_ttl_s,
                LOAD_WEIGHT,
                self.max_abandoned,
                grace_ms,
                keep_ms,
            ],
        )
        conversation_id, staff_id, *abandoned = (_text(v) for v in reply)
        match = MatchResult(conversation_id, staff_id) if conversation_id else None
        return MatchOutcome(match, tuple(abandoned))

    async def match_booked(self, conversation_id: str, staff_id: str, now_ms: int) -> int:
        """Match a queued conversation with a named counselor (see lua/match_booked.lua):
        1 matched, 0 not queued, -1 that counselor cannot take it now."""
        return int(await self._scripts.match_booked(
            keys=[
                keys.QUEUE,
                keys.AVAILABLE,
                keys.CAPACITY,
                keys.LOAD,
                keys.IDLE_SINCE,
                keys.DRAINING,
                keys.SEAT_CHANGES,
                keys.claim(conversation_id),
                keys.claims_of(staff_id),
                keys.counselor_presence(staff_id),
                keys.worker_presence(conversation_id),
            ],
            args=[conversation_id, staff_id, now_ms, self.claim_ttl_s, LOAD_WEIGHT],
        ))

    async def match_all(self, now_ms: int, limit: int = 100,
                        on_match: Callable[[MatchResult], object] | None = None,
                        grace_ms: int = 0, keep_ms: int = 0) -> MatchBatch:
        """Match until no pair is left or `limit` matches were made. `on_match` hears of
        each pair as it is made, so recording it need not wait for the search for more."""
        matches: list[MatchResult] = []
        abandoned: list[str] = []
        while len(matches) < limit:
            outcome = await self.match_one(now_ms, grace_ms, keep_ms)
            abandoned.extend(outcome.abandoned)
            if outcome.match is not None:
                matches.append(outcome.match)
                if on_match is not None:
                    on_match(outcome.match)
            elif len(outcome.abandoned) < self.max_abandoned:
                break  # otherwise the script stopped at its bound: more dead heads to drop
        return MatchBatch(tuple(matches), tuple(abandoned))

    async def unclaim(self, conversation_id: str, staff_id: str, now_ms: int) -> Unclaimed:
        """Undo a match the server could not record in PostgreSQL.

        Gives the counselor's seat back and returns the worker to the original place if
        the worker's presence is still alive. Only a live claim (younger than claim_ttl_s)
        is undone, so calling twice is harmless. `now_ms` is not used: the counselor's
        idle_since stays as it was, so an undone match costs them no place.
        """
        del now_ms
        done = await self._scripts.unclaim(
            keys=[
                keys.QUEUE,
                keys.AVAILABLE,
                keys.CAPACITY,
                keys.LOAD,
                keys.IDLE_SINCE,
                keys.DRAINING,
                keys.claim(conversation_id),
                keys.claims_of(staff_id),
                keys.counselor_presence(staff_id),
                keys.worker_presence(conversation_id),
                keys.SEAT_CHANGES,
            ],
            args=[conversation_id, staff_id, LOAD_WEIGHT],
        )
        return Unclaimed(int(done))

    async def confirm(self, conversation_id: str, staff_id: str) -> None:
        """The match is recorded in PostgreSQL: drop its claim.

        From here the record counts the conversation in the counselor's load, and a later
        hand-over may queue the conversation again at once.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.claim(conversation_id))
            pipe.srem(keys.claims_of(staff_id), conversation_id)
            pipe.hincrby(keys.SEAT_CHANGES, staff_id, 1)
            await pipe.execute()

    async def claimed_by(self, conversation_ids: Sequence[str]) -> dict[str, str | None]:
        """Counselor of each conversation whose match is in flight (claim alive), else None."""
        if not conversation_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation_id in conversation_ids:
                pipe.hget(keys.claim(conversation_id), "staff")
            staff = await pipe.execute()
        return {
            cid: None if s is None else _text(s)
            for cid, s in zip(conversation_ids, staff, strict=True)
        }

    async def seat_changes(self, staff_ids: Sequence[str]) -> dict[str, int]:
        """Per counselor, the count of changes to their load (see keys.SEAT_CHANGES)."""
        if not staff_ids:
            return {}
        counts = await self.redis.hmget(keys.SEAT_CHANGES, list(staff_ids))
        return {s: int(c or 0) for s, c in zip(staff_ids, counts, strict=True)}

    async def reconcile_load(self, staff_id: str, recorded: Sequence[str],
                             changes_before: int) -> int | None:
        """Set the load to PostgreSQL's active conversations plus matches in flight.

        `recorded`: ids of the counselor's active conversations, read from PostgreSQL less
        than claim_ttl_s ago; `changes_before`: seat_changes() for this counselor, read
        before that. Returns the new load, or None if the seat changed since (a match or
        an end between the read and now would be miscounted): nothing is set then.
        """
        load = int(await self._scripts.reconcile(
            keys=[*self._seat_keys(staff_id), keys.claims_of(staff_id), keys.SEAT_CHANGES],
            args=[staff_id, LOAD_WEIGHT, keys.CLAIM, changes_before, *dict.fromkeys(recorded)],
        ))
        return None if load < 0 else load

    # -- recovery -------------------------------------------------------------------------

    async def epoch(self) -> str | None:
        """Token of the last rebuild; None means Redis lost its data: call rebuild()."""
        value = await self.redis.get(keys.EPOCH)
        return None if value is None else _text(value)

    async def rebuild(
        self,
        waiting: Sequence[Waiting],
        seats: Sequence[tuple[str, int, int, int]],
        *,
        grace_s: int = DEFAULT_GRACE_S,
        ttl_s: int = DEFAULT_COUNSELOR_TTL_S,
        seen_ms: int | None = None,
    ) -> str:
        """Restore the queue and seats from PostgreSQL; returns the epoch.

        `seats`: (staff_id, load, capacity, idle_since_ms) of counselors on duty. Anything
        already in Redis wins (places, loads, capacities), so running it twice, or on
        several nodes at once, changes nothing. Restored workers and counselors get fresh
        presence; those really gone expire after `grace_s` / `ttl_s`.
        """
        _positive("grace_s", grace_s)
        for w in waiting:
            queue_score(w.band, w.enqueued_ms)
        for _, load, capacity, idle_ms in seats:
            _count("capacity", capacity)
            counselor_score(load, idle_ms)
        _positive("ttl_s", ttl_s)
        async with self.redis.pipeline(transaction=False) as pipe:
            for w in waiting:
                await self._scripts.enqueue(
                    keys=[
                        keys.QUEUE,
                        keys.worker_presence(w.conversation_id),
                        keys.claim(w.conversation_id),
                    ],
                    args=[w.conversation_id, repr(queue_score(w.band, w.enqueued_ms)), grace_s,
                          _seen(seen_ms)],
                    client=pipe,
                )
            for staff_id, load, capacity, idle_ms in seats:
                await self._scripts.on_duty(
                    keys=self._counted_seat_keys(staff_id),
                    args=[staff_id, capacity, load, idle_ms, ttl_s, LOAD_WEIGHT, "1"],
                    client=pipe,
                )
            # Written last: its presence means the rebuild finished.
            pipe.set(keys.EPOCH, uuid.uuid4().hex, nx=True)
            pipe.get(keys.EPOCH)
            replies = await pipe.execute()
        return _text(replies[-1])
