"""What every part of the queue store shares: the Redis client, its scripts, the seat keys
and the checks of arguments (chat_queue/store.py says the limits)."""

from __future__ import annotations

from redis.asyncio import Redis

from chat_queue import keys
from chat_queue.errors import QueueError
from chat_queue.matching import MAX_LOAD
from chat_queue.scripts import Scripts, register

DEFAULT_COUNSELOR_TTL_S = 15
DEFAULT_GRACE_S = 120
DEFAULT_CLAIM_TTL_S = 60
DEFAULT_MAX_ABANDONED = 100


def as_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def seen_arg(seen_ms: int | None) -> str:
    # '1' = present, time unknown (see lua/match.lua); real stamps are far above it.
    return "1" if seen_ms is None else str(int(seen_ms))


def require_positive(name: str, value: int) -> None:
    if value < 1:
        raise QueueError(f"{name} must be at least 1: {value}")


def require_load(name: str, value: int) -> None:
    if not 0 <= value <= MAX_LOAD:
        raise QueueError(f"{name} out of range: {value}")


class QueueBase:
    """The Redis client and its scripts; each part of the store (store.py) extends it."""

    def __init__(
        self,
        redis: Redis,
        *,
        claim_ttl_s: int = DEFAULT_CLAIM_TTL_S,
        max_abandoned: int = DEFAULT_MAX_ABANDONED,
    ) -> None:
        require_positive("claim_ttl_s", claim_ttl_s)
        require_positive("max_abandoned", max_abandoned)
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
