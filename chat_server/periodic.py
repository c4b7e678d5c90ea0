"""Background work that runs every few seconds on every node and must never die."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("yizhan.periodic")

RECANCEL_AFTER_S = 0.5


async def every(seconds: float, work: Callable[[], Awaitable[None]], name: str) -> None:
    """Run `work` every `seconds` until cancelled; a failure is logged and the loop goes on
    (a sweeper that died silently would stop deadlines or shift ends from being seen)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", name)


async def cancel(*tasks: asyncio.Task[object] | None) -> None:
    """Cancel background tasks and wait until each has finished; a task that ended with
    an error is not re-raised here (it was logged where it failed).

    A cancel can be lost: on Python 3.11, asyncio.wait_for (which redis-py uses to send
    every command) swallows a cancel that lands as the command completes, and the loop
    then runs on. So a task still running a moment later is cancelled again — a node
    whose loops outlive its shutdown never finishes stopping.
    """
    live = [t for t in tasks if t is not None]
    while live:
        for task in live:
            task.cancel()
        await asyncio.wait(live, timeout=RECANCEL_AFTER_S)
        live = [t for t in live if not t.done()]
    for ended in tasks:
        if ended is not None and not ended.cancelled():
            ended.exception()  # retrieved, so asyncio does not warn that nobody did
