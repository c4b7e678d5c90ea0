"""The node's periodic work: presence, pushes, session re-checks, mending Redis from the
record, and the sweeps, once a tick whatever the load."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from chat_queue.matching import Band, Waiting
from chat_server.chat.connection import Connection
from chat_server.chat.node import Node
from chat_server.chat.people_store import PeopleStore
from chat_server.chat.presence import Presence
from chat_server.chat.sockets import Sockets
from chat_server.chat.sweeps import Sweeps
from chat_server.chat.views import StaffViews
from chat_server.chat.waiting import Waiting as WaitingStatus
from chat_server.chat.waiting import local_worker_conversations
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.protocol import CloseCode, Role

log = logging.getLogger("yizhan.dispatch")

TICK_S = 1.0
SWEEP_EVERY_TICKS = 2
# Every socket's session is re-checked once in this many ticks, a share of them each tick.
REVALIDATE_EVERY_TICKS = 10
RECONCILE_EVERY_TICKS = 15
# A match younger than this may still have its announcement on the way (follow_missed).
ANNOUNCE_GRACE_S = 10.0


class Upkeep:
    def __init__(self, node: Node, sockets: Sockets, wake: Wake, waiting: WaitingStatus,
                 sweeps: Sweeps, presence: Presence, views: StaffViews,
                 people: PeopleStore) -> None:
        self.node = node
        self.sockets = sockets
        self.wake = wake
        self.waiting = waiting
        self.sweeps = sweeps
        self.presence = presence
        self.views = views
        self.people = people
        # Which share of the sockets the next re-check covers (REVALIDATE_EVERY_TICKS).
        self._revalidate_turn = 0
        # Presence must be renewed well within its TTL: three chances before it lapses.
        self._heartbeat_ticks = max(1, int(node.settings.presence_ttl_s / 3 / TICK_S))

    async def run(self) -> None:
        """Periodic work, once a tick whatever the load: positions and queue figures are
        pushed at most once a second, so their cost grows with the queue, not its square."""
        tick = 0
        renewed = time.monotonic()
        sweeps = self.sweeps
        while True:
            await asyncio.sleep(TICK_S)
            tick += 1
            steps: list[Callable[[], Awaitable[None]]] = []
            # By the clock, first: under load a tick's steps take longer than a tick, and
            # presence renewed every few ticks then lapsed while the counselor was here.
            if time.monotonic() - renewed >= self._heartbeat_ticks * TICK_S:
                renewed = time.monotonic()
                steps.append(self.heartbeats)
            steps += [self.waiting.push_positions, self.waiting.push_queue_stats]
            steps.append(self.revalidate_sessions)
            if tick % RECONCILE_EVERY_TICKS == 0:
                steps += [self.reconcile, self.follow_missed]
            if tick % SWEEP_EVERY_TICKS == 0:
                steps += [self.ensure_queue, sweeps.sweep_counselors, sweeps.sweep_workers,
                          sweeps.sweep_gone_workers,
                          sweeps.sweep_closing, sweeps.sweep_wrapups, sweeps.sweep_silent]
            for step in steps:
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("dispatcher step failed",
                                  extra={"fields": {"step": step.__name__}})

    async def ensure_queue(self) -> None:
        """Redis is not the record: if it lost its data, rebuild the queue from PostgreSQL."""
        node = self.node
        if await node.queue.epoch() is not None:
            return
        rows = await node.conversations.waiting()
        waiting = [
            Waiting(str(r["id"]), Band(min(r["band"], 1)), int(r["queued_at"].timestamp() * 1000))
            for r in rows
        ]
        await node.queue.rebuild(waiting, [], grace_s=node.settings.worker_keep_s,
                                 seen_ms=node.now_ms())
        log.info("queue rebuilt from PostgreSQL", extra={"fields": {"waiting": len(waiting)}})

    async def reconcile(self) -> None:
        """Mend what a crash between Redis and PostgreSQL can leave behind.

        A worker waiting in PostgreSQL but in no Redis queue (a match claimed in Redis was
        never recorded, and its claim expired) is queued again at the original time; a
        counselor's seat count is set to what PostgreSQL records plus matches in flight.
        """
        node = self.node
        rows = await node.conversations.waiting()
        ids = [str(r["id"]) for r in rows]
        if ids:
            positions = await node.queue.positions(ids)
            claimed = await node.queue.claimed_by(ids)
            for r in rows:
                cid = str(r["id"])
                if positions[cid] is None and claimed[cid] is None:
                    await node.queue.enqueue(cid, Band(min(r["band"], 1)),
                                             int(r["queued_at"].timestamp() * 1000),
                                             node.settings.worker_keep_s, node.now_ms())
                    log.warning("re-queued a waiting conversation missing from Redis",
                                extra={"fields": {"conversation_id": cid}})
                    self.wake.kick()
        seats = await node.queue.on_duty()
        if seats:
            # Counted before the read: a seat that changes meanwhile is left to next time.
            changes = await node.queue.seat_changes([seat.staff_id for seat in seats])
            taken = await node.conversations.seats_taken()
            for seat in seats:
                await node.queue.reconcile_load(seat.staff_id, taken.get(seat.staff_id, []),
                                                changes[seat.staff_id])

    async def follow_missed(self, older_than_s: float = ANNOUNCE_GRACE_S) -> None:
        """Give each local counselor socket any conversation of theirs it is not following.

        A match is announced through Redis; if that announcement was lost (Redis failed
        past the hub's retries), the counselor would never see the worker's messages. The
        record says who serves what, so it is checked here; matches younger than
        `older_than_s` are left alone, their announcement may still be on its way.
        """
        node = self.node
        counselors: dict[str, list[Connection]] = {}
        for conn in self.sockets:
            if conn.role is Role.COUNSELOR:
                counselors.setdefault(conn.principal.id, []).append(conn)
        if not counselors:
            return
        convs = await node.conversations.matched_before(list(counselors), older_than_s)
        for conv in convs:
            # (Looked up by id: every conversation against every socket was 100,000 steps
            # at once with 1,000 chats and 100 counselors.)
            for conn in counselors.get(conv.counselor_id or "", ()):
                if conv.id not in conn.cursors:
                    log.warning("a match announcement was missed; following now",
                                extra={"fields": {"conversation_id": conv.id}})
                    frame = frames.Assigned(await self.views.staff_view(conv))
                    conn.spawn(conn.follow_by_id(conv.id, frame.to_wire()))

    async def heartbeats(self) -> None:
        """Keep presence of local counselors on duty and of local workers' conversations."""
        node = self.node
        counselors = {conn.principal.id for conn in self.sockets
                      if conn.role is Role.COUNSELOR and conn.on_duty}
        for staff_id in counselors:
            if not await node.queue.heartbeat(staff_id, node.settings.presence_ttl_s):
                # Redis lost the seat (restart): restore it from the record.
                load = await node.conversations.seat_load(staff_id)
                await node.queue.counselor_on_duty(
                    staff_id, await self.people.capacity(staff_id), load, node.now_ms(),
                    node.settings.presence_ttl_s)
        await node.queue.touch_workers(list(local_worker_conversations(self.sockets)),
                                       node.settings.worker_keep_s, node.now_ms())
        await node.queue.link_workers(
            list({conv_id for conn in self.sockets
                  if conn.role is Role.WORKER for conv_id in conn.known}),
            self.presence.link_until())

    async def revalidate_sessions(self) -> None:
        """Close sockets whose session expired or was revoked since they connected.

        Each call checks one REVALIDATE_EVERY_TICKS-th of the sessions (by their hash), so
        every socket is re-checked once in that many ticks. Checking all of them at once
        stopped the event loop for several milliseconds at 2,000 sockets and held up every
        message then in flight (docs/BENCHMARKS.md).
        """
        node = self.node
        turn = self._revalidate_turn
        self._revalidate_turn = (turn + 1) % REVALIDATE_EVERY_TICKS
        conns = [c for c in self.sockets
                 if c.principal.token_hash[0] % REVALIDATE_EVERY_TICKS == turn]
        if not conns:
            return
        valid = await self.people.live_sessions(list({c.principal.token_hash for c in conns}),
                                                node.now())
        for conn in conns:
            if conn.principal.token_hash not in valid:
                conn.close(CloseCode.UNAUTHENTICATED)
