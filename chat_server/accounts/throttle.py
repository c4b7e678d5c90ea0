"""Slow-downs for guessing (worker PINs, staff passwords): a growing wait, never a lockout.

After FREE_FAILURES wrong answers for one scope (a number, a source address, a staff
name) each further try waits 2, 4, 8 … seconds, at most MAX_DELAY_S. A guesser gets a
few hundred tries a day against a million PINs; the real person waits minutes at worst,
and a worker whose phone holds the device credential is not slowed at all (api.py).
Scopes are hashed before they become Redis keys: no number or name reaches Redis.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from chat_queue.keys import SLOW, rate

FREE_FAILURES = 5
MAX_DELAY_S = 300
# Failures older than this since the last one are forgotten.
MEMORY_S = 24 * 3600


def scope_key(kind: str, value: str) -> str:
    return SLOW + kind + ":" + hashlib.sha256(f"yizhan:{kind}:{value}".encode()).hexdigest()[:32]


def delay_after(failures: int) -> int:
    """Seconds to wait after `failures` wrong answers in a row (0: no wait)."""
    if failures < FREE_FAILURES:
        return 0
    return min(MAX_DELAY_S, int(2 ** (failures - FREE_FAILURES + 1)))


class Throttle:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def wait_s(self, keys: list[str], now_ms: int) -> int:
        """How long before the next try may be made for all of `keys` (0: now)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "until")
            untils = await pipe.execute()
        wait_ms = max((int(u) - now_ms for u in untils if u is not None), default=0)
        return max(0, -(-wait_ms // 1000))

    async def failed(self, keys: list[str], now_ms: int) -> None:
        for key in keys:
            failures = int(await self.redis.hincrby(key, "n", 1))
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, "until", now_ms + delay_after(failures) * 1000)
                pipe.expire(key, MEMORY_S)
                await pipe.execute()

    async def forget(self, keys: list[str]) -> None:
        await self.redis.delete(*keys)

    async def count(self, key: str, limit: int, window_s: int) -> int:
        """Count a request in a fixed window; the seconds to wait if it is over `limit`."""
        full = rate(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.expire(full, window_s, nx=True)
            count, _ = await pipe.execute()
        if int(count) <= limit:
            return 0
        return max(1, int(await self.redis.ttl(full)))
