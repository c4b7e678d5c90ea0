"""Counselor seats in Redis: duty, presence, capacity, load and its reconciliation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat_queue import keys
from chat_queue.base import (
    QueueBase,
    as_text,
    require_load,
    require_positive,
)
from chat_queue.matching import (
    LOAD_WEIGHT,
    counselor_score,
)


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


class Seats(QueueBase):
    # -- counselors -----------------------------------------------------------------------

    async def counselor_on_duty(
        self, staff_id: str, capacity: int, load: int, now_ms: int, ttl_s: int
    ) -> None:
        """Come on duty with `load` conversations already open (counted in PostgreSQL)."""
        await self._on_duty(staff_id, capacity, load, now_ms, ttl_s, keep=False)

    async def _on_duty(
        self, staff_id: str, capacity: int, load: int, idle_ms: int, ttl_s: int, *, keep: bool
    ) -> None:
        require_load("capacity", capacity)
        counselor_score(load, idle_ms)  # validates load and time before anything is written
        require_positive("ttl_s", ttl_s)
        await self._scripts.on_duty(
            keys=self._counted_seat_keys(staff_id),
            args=[staff_id, capacity, load, idle_ms, ttl_s, LOAD_WEIGHT, "1" if keep else "0"],
        )

    async def heartbeat(self, staff_id: str, ttl_s: int) -> bool:
        """Renew presence; False if not on duty (call counselor_on_duty again)."""
        require_positive("ttl_s", ttl_s)
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
        require_load("capacity", capacity)
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
        capacity = {as_text(k): int(v) for k, v in caps.items()}
        load = {as_text(k): int(v) for k, v in loads.items()}
        drained = {as_text(s) for s in draining}
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
