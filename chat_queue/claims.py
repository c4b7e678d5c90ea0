"""Matching in Redis: the next worker to the best free seat, claims until recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from chat_queue import keys
from chat_queue.base import (
    QueueBase,
    as_text,
)
from chat_queue.matching import (
    LOAD_WEIGHT,
)


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


class Claims(QueueBase):
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
        conversation_id, staff_id, *abandoned = (as_text(v) for v in reply)
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
            cid: None if s is None else as_text(s)
            for cid, s in zip(conversation_ids, staff, strict=True)
        }
