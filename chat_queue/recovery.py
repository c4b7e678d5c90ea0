"""Rebuilding the queue and seats from PostgreSQL after Redis lost them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from chat_queue import keys
from chat_queue.base import (
    DEFAULT_COUNSELOR_TTL_S,
    DEFAULT_GRACE_S,
    QueueBase,
    as_text,
    require_load,
    require_positive,
    seen_arg,
)
from chat_queue.matching import (
    LOAD_WEIGHT,
    Waiting,
    counselor_score,
    queue_score,
)


class Recovery(QueueBase):
    # -- recovery -------------------------------------------------------------------------

    async def epoch(self) -> str | None:
        """Token of the last rebuild; None means Redis lost its data: call rebuild()."""
        value = await self.redis.get(keys.EPOCH)
        return None if value is None else as_text(value)

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
        require_positive("grace_s", grace_s)
        for w in waiting:
            queue_score(w.band, w.enqueued_ms)
        for _, load, capacity, idle_ms in seats:
            require_load("capacity", capacity)
            counselor_score(load, idle_ms)
        require_positive("ttl_s", ttl_s)
        async with self.redis.pipeline(transaction=False) as pipe:
            for w in waiting:
                await self._scripts.enqueue(
                    keys=[
                        keys.QUEUE,
                        keys.worker_presence(w.conversation_id),
                        keys.claim(w.conversation_id),
                    ],
                    args=[w.conversation_id, repr(queue_score(w.band, w.enqueued_ms)), grace_s,
                          seen_arg(seen_ms)],
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
        return as_text(replies[-1])
