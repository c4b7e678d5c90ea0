"""The matcher's wake-up call, shared by everything that frees a seat or queues a worker."""

from __future__ import annotations

import asyncio
import contextlib


class Wake:
    def __init__(self) -> None:
        # Set to run a matching pass now rather than at the next tick.
        self._event = asyncio.Event()
        # Clear while the matcher runs a pass (position pushes give way to it).
        self.not_matching = asyncio.Event()
        self.not_matching.set()

    def kick(self) -> None:
        """Run a matching pass now rather than at the next tick."""
        self._event.set()

    async def wait(self, timeout_s: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
        # lands as the event fires (see periodic.cancel).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._event.wait()
        self._event.clear()

    async def give_way(self, max_s: float) -> None:
        """Wait, at most `max_s`, for a matching pass in progress to end."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max_s):
                await self.not_matching.wait()
