"""What waiting workers and staff are told of the queue: estimates, status, pushes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from chat_queue.matching import estimate_wait_s
from chat_queue.store import SeatState
from chat_server import metrics
from chat_server.chat.connection import Connection
from chat_server.chat.node import Node
from chat_server.chat.plugins import WaitAdvisor
from chat_server.chat.sockets import Sockets
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.protocol import Role

# Waiting workers up to this place hear every change of position; those further back
# hear at most every FAR_BACK_EVERY_TICKS seconds.
NEAR_FRONT = 20
FAR_BACK_EVERY_TICKS = 5
# Position frames are queued this many at a time, with a short pause between groups, so
# that a long queue's update never holds the event loop (and a hand-off) for long.
PUSH_GROUP = 50
PUSH_PAUSE_S = 0.002
# How long one group of position frames waits at most for matching to finish.
GIVE_WAY_MAX_S = 0.05
# How old the seats behind a wait estimate may be (see seats_and_waits).
ESTIMATE_FRESH_S = 1.0


def local_worker_conversations(sockets: Sockets) -> dict[str, list[Connection]]:
    """Conversations local worker sockets follow that may be waiting: not those the
    socket knows as active (matched; a hand-over's `queued` makes it forget), so a
    busy hour's chats in progress do not double the positions asked of Redis. The
    heartbeat renews worker presence for these only: matching (and undoing a match)
    is all that reads it, and only for waiting conversations."""
    waiting: dict[str, list[Connection]] = {}
    for conn in sockets:
        if conn.role is Role.WORKER:
            for conv_id in conn.cursors:
                if conv_id not in conn.known:
                    waiting.setdefault(conv_id, []).append(conn)
    return waiting


class Waiting:
    def __init__(self, node: Node, sockets: Sockets, wake: Wake,
                 advisors: Sequence[WaitAdvisor], hotlines: Sequence[Mapping[str, Any]]) -> None:
        self.node = node
        self.sockets = sockets
        self.wake = wake
        # What the roster adds to a waiting worker's figures (WaitAdvisor).
        self.advisors = tuple(advisors)
        # The 24-hour lines, in every status (data from crisis/hotlines.py).
        self.hotlines = list(hotlines)
        # What each local waiting conversation was last told (position, estimate, extras).
        self._last_positions: dict[str, tuple[int | None, int | None, dict[str, Any]]] = {}
        # The queue figures staff were last told: pushed again only when they change.
        self._last_stats: dict[str, Any] | None = None
        # Counts pushes, so far-back workers take turns (FAR_BACK_EVERY_TICKS).
        self._position_round = 0
        # (monotonic time read, seats, recent waits) behind estimates; see seats_and_waits.
        self._estimate_inputs: tuple[float, list[SeatState], list[float]] | None = None
        self._estimate_lock = asyncio.Lock()

    async def seats_and_waits(self) -> tuple[list[SeatState], list[float]]:
        """Seats on duty and recent waits, for estimates and the service status: at most
        ESTIMATE_FRESH_S old. When a factory closes, a thousand workers arrive at once;
        reading every seat for each of them was most of the time before they heard
        their place (seconds), for a figure that is an estimate anyway."""
        cached = self._estimate_inputs
        if cached is not None and time.monotonic() - cached[0] < ESTIMATE_FRESH_S:
            return cached[1], cached[2]
        async with self._estimate_lock:  # one read for everyone who asks meanwhile
            cached = self._estimate_inputs
            if cached is not None and time.monotonic() - cached[0] < ESTIMATE_FRESH_S:
                return cached[1], cached[2]
            seats = await self.node.queue.on_duty()
            waits = await self.node.queue.recent_waits()
            self._estimate_inputs = (time.monotonic(), seats, waits)
            return seats, waits

    def seats_changed(self) -> None:
        """This node changed a seat (duty, capacity): the next estimate reads afresh."""
        self._estimate_inputs = None

    async def status(self) -> dict[str, Any]:
        node = self.node
        now = node.now()
        hours = node.hours
        seats, _ = await self.seats_and_waits()
        present = [s for s in seats if s.present]
        length = await node.queue.length()
        estimate = await self.estimate(length + 1)
        closes = hours.closes_at(now)
        extras = await self.wait_extras(estimate)
        return {
            "open": closes is not None,
            "now": now.astimezone(hours.tz).isoformat(),
            "hours": hours.describe(),
            "closes_at": closes.isoformat() if closes else None,
            "next_open": hours.next_open(now).isoformat(),
            "queue_length": length,
            "estimated_wait_s": estimate,
            "counselors_on_duty": len(present),
            "consent_version": node.settings.consent_version,
            "hotlines": self.hotlines,
            **extras,
        }

    async def estimate(self, position: int | None) -> int | None:
        if position is None:
            return None
        seats, waits = await self.seats_and_waits()
        present = [s for s in seats if s.present and not s.draining]
        free = sum(s.free for s in present)
        return estimate_wait_s(position, waits, len(present), free)

    async def wait_extras(self, estimate: int | None) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        for advisor in self.advisors:
            extras.update(await advisor.wait_hook(estimate))
        return extras

    async def queue_stats(self) -> dict[str, Any]:
        node = self.node
        length = await node.queue.length()
        oldest = await node.queue.oldest_enqueued_ms()
        longest = max(0, (node.now_ms() - oldest) // 1000) if oldest is not None else 0
        return {"length": length, "longest_wait_s": longest}

    async def push_positions(self) -> None:
        """Tell local waiting workers their place when it changes.

        One pipelined read of all positions, one read of seats and recent waits, then pure
        arithmetic per worker: the cost per waiting worker per tick is constant.
        """
        node = self.node
        waiting = local_worker_conversations(self.sockets)
        if not waiting:
            self._last_positions.clear()
            return
        positions = {c: p for c, p in (await node.queue.positions(list(waiting))).items()
                     if p is not None}
        if not positions:
            return
        seats, waits = await self.seats_and_waits()
        present = [s for s in seats if s.present and not s.draining]
        free = sum(s.free for s in present)
        extras_by_estimate: dict[int | None, dict[str, Any]] = {}
        self._position_round += 1
        turn = self._position_round % FAR_BACK_EVERY_TICKS
        pushed = 0
        for conv_id, position in positions.items():
            # Near the front every change matters; far back, a fresh figure every few
            # seconds is enough. Each far-back worker has its own turn (from its id), so
            # a long queue is spread over the ticks instead of all landing on one.
            if position > NEAR_FRONT and int(conv_id[:8], 16) % FAR_BACK_EVERY_TICKS != turn:
                continue
            estimate = estimate_wait_s(position, waits, len(present), free)
            if estimate not in extras_by_estimate:
                extras_by_estimate[estimate] = await self.wait_extras(estimate)
            extras = extras_by_estimate[estimate]
            shown = extras.get("estimated_wait_s", estimate)
            if self._last_positions.get(conv_id) == (position, shown, extras):
                continue
            self._last_positions[conv_id] = (position, shown, extras)
            for conn in waiting[conv_id]:
                conn.push(frames.QueuePosition(conv_id, position, shown, extra=extras))
            pushed += 1
            if pushed % PUSH_GROUP == 0:
                await asyncio.sleep(PUSH_PAUSE_S)
                # A freed seat's next worker is who everyone waits for, and the match
                # moves every position anyway: a pass in progress goes first (bounded).
                await self.wake.give_way(GIVE_WAY_MAX_S)
        for gone in set(self._last_positions) - set(positions):
            del self._last_positions[gone]

    async def push_queue_stats(self) -> None:
        stats = await self.queue_stats()
        metrics.QUEUE_LENGTH.set(stats["length"])
        if stats == self._last_stats:
            return
        self._last_stats = stats
        for conn in self.sockets:
            if conn.principal.is_staff:
                conn.push(frames.QueueStats(**stats))
