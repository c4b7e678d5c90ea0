"""Waiting workers in Redis: their places, presence while waiting, links while chatting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from chat_queue import keys
from chat_queue.base import (
    QueueBase,
    as_text,
    require_positive,
    seen_arg,
)
from chat_queue.matching import (
    BAND_WEIGHT,
    Band,
    queue_score,
    split_queue_score,
)


class WaitingLine(QueueBase):
    # -- waiting workers ------------------------------------------------------------------

    async def enqueue(
        self, conversation_id: str, band: Band, enqueued_ms: int, grace_s: int,
        seen_ms: int | None = None,
    ) -> bool:
        """Queue (idempotent: an entry keeps its place); False if a match is in flight.

        `grace_s` is the presence TTL (the place-keeping time); `seen_ms` the node time of
        this sign of life (None: unknown, the worker counts as present until the TTL)."""
        require_positive("grace_s", grace_s)
        score = queue_score(band, enqueued_ms)
        done = await self._scripts.enqueue(
            keys=[keys.QUEUE, keys.worker_presence(conversation_id), keys.claim(conversation_id)],
            args=[conversation_id, repr(score), grace_s, seen_arg(seen_ms)],
        )
        return bool(done)

    async def touch_worker(self, conversation_id: str, grace_s: int,
                           seen_ms: int | None = None) -> None:
        """Heartbeat of a connected waiting worker: the place is kept `grace_s` more."""
        require_positive("grace_s", grace_s)
        await self.redis.set(keys.worker_presence(conversation_id), seen_arg(seen_ms), ex=grace_s)

    async def touch_workers(self, conversation_ids: Sequence[str], grace_s: int,
                            seen_ms: int | None = None) -> None:
        """touch_worker for many conversations in one round trip."""
        require_positive("grace_s", grace_s)
        if not conversation_ids:
            return
        await self._scripts.touch_workers(
            keys=[keys.worker_presence(c) for c in conversation_ids],
            args=[grace_s, seen_arg(seen_ms)])

    async def last_seen(self, conversation_ids: Sequence[str]) -> dict[str, int | None]:
        """Node ms of each waiting worker's last sign of life (None: gone or unknown)."""
        if not conversation_ids:
            return {}
        values = await self.redis.mget([keys.worker_presence(c) for c in conversation_ids])
        seen: dict[str, int | None] = {}
        for cid, v in zip(conversation_ids, values, strict=True):
            ms = int(as_text(v)) if v is not None else 0
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
        return [as_text(m) for m in members]

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
