"""Start-up that waits: PostgreSQL and Redis retried with backoff up to a deadline.

A node started by systemd at boot often comes up before the database does; exiting at
once would leave the restart policy to guess. One log line per attempt, no URLs in it
(they may carry passwords).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
import redis.asyncio as aioredis

from chat_server import db
from yizhan_errors import YizhanError

log = logging.getLogger("yizhan.startup")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 5.0


# Worth waiting for: not up yet, starting, full, loading. A wrong password or a missing
# database is not retried: it will not fix itself, and the error should say so at once.
RETRIED = (
    OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError, aioredis.ConnectionError, aioredis.TimeoutError,
)


class Unavailable(YizhanError):
    """A backend did not answer before the deadline."""


async def retry(name: str, attempt: Callable[[], Awaitable[None]], wait_s: float) -> None:
    """Call `attempt` until it succeeds, doubling the pause (capped) until `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    delay = FIRST_DELAY_S
    tries = 0
    while True:
        tries += 1
        try:
            await attempt()
        except RETRIED as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("%s unreachable; giving up", name, extra={"fields": {
                    "attempt": tries, "error": type(exc).__name__, "waited_s": wait_s}})
                raise Unavailable(f"{name} did not answer within {wait_s:g} s "
                                  f"(last error: {type(exc).__name__})") from None
            pause = min(delay, left)
            log.warning("%s not reachable yet; retrying", name, extra={"fields": {
                "attempt": tries, "error": type(exc).__name__, "retry_in_s": round(pause, 2)}})
            await asyncio.sleep(pause)
            delay = min(delay * 2, MAX_DELAY_S)
            continue
        if tries > 1:
            log.info("%s reachable", name, extra={"fields": {"attempt": tries}})
        return


async def postgres_ready(url: str, wait_s: float) -> None:
    async def attempt() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        await conn.close()

    await retry("postgres", attempt, wait_s)


async def redis_ready(url: str, wait_s: float) -> None:
    async def attempt() -> None:
        client = aioredis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        try:
            await client.ping()
        finally:
            await client.aclose()

    await retry("redis", attempt, wait_s)


async def check_schema(url: str) -> int:
    """The database's migration version; raises db.SchemaError unless it is this code's."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await db.check_version(conn)
    finally:
        await conn.close()
