"""Background work that runs every few seconds on every node and must never die."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("yizhan.periodic")


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
    an error is not re-raised here (it was logged where it failed)."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
