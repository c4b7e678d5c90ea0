"""Queue, duty and matching on one node: turns Redis matches into PostgreSQL records.

Every node runs the same loop. The Lua matcher makes matches atomic across nodes; the
PostgreSQL updates are conditional (`WHERE status = 'waiting'`), so two nodes sweeping at
once cannot both act on one conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from chat_queue.matching import Band, Waiting, estimate_wait_s
from chat_queue.store import MatchResult, SeatState
from chat_server import metrics
from chat_server.chat.hub import (
    conversation_channel,
    device_channel,
    session_channel,
    user_channel,
)
from chat_server.chat.node import Node
from chat_server.chat.store import Conversation
from chat_server.periodic import cancel
from chat_server.wire.protocol import CloseCode, ErrorCode, ProtocolError, Role

if TYPE_CHECKING:
    from chat_server.chat.endpoint import Connection

log = logging.getLogger("yizhan.dispatch")

TICK_S = 1.0
SWEEP_EVERY_TICKS = 2
# Every socket's session is re-checked once in this many ticks, a share of them each tick.
REVALIDATE_EVERY_TICKS = 10
RECONCILE_EVERY_TICKS = 15
# Waiting workers up to this place hear every change of position; those further back
# hear at most every FAR_BACK_EVERY_TICKS seconds.
NEAR_FRONT = 20
FAR_BACK_EVERY_TICKS = 5
# A match younger than this may still have its announcement on the way (follow_missed).
ANNOUNCE_GRACE_S = 10.0
# Position frames are queued this many at a time, with a short pause between groups, so
# that a long queue's update never holds the event loop (and a hand-off) for long.
PUSH_GROUP = 50
PUSH_PAUSE_S = 0.002
# How long one group of position frames waits at most for matching to finish.
GIVE_WAY_MAX_S = 0.05
# How old the seats behind a wait estimate may be (see seats_and_waits).
ESTIMATE_FRESH_S = 1.0


class Dispatcher:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_positions: dict[str, tuple[int | None, int | None, dict[str, Any]]] = {}
        self._last_stats: dict[str, Any] | None = None
        self._position_round = 0
        self._revalidate_turn = 0
        self._match_lock = asyncio.Lock()
        # Clear while the matcher runs a pass (position pushes give way to it).
        self._not_matching = asyncio.Event()
        self._not_matching.set()
        self._estimate_inputs: tuple[float, list[SeatState], list[float]] | None = None
        self._estimate_lock = asyncio.Lock()
        # Presence must be renewed well within its TTL: three chances before it lapses.
        self._heartbeat_ticks = max(1, int(node.settings.presence_ttl_s / 3 / TICK_S))
        # Features add to what a waiting worker is told (the roster: whether anyone is
        # scheduled soon); a hook may also replace `estimated_wait_s`.
        self.wait_hooks: list[Callable[[int | None], Awaitable[dict[str, Any]]]] = []
        # Features that act on a new chat request once it is queued (self-service: a
        # positive PHQ-9 item 9 raises the band; a booked slot goes to its counselor).
        self.chat_hooks: list[Callable[[Connection, Conversation], Awaitable[None]]] = []

    # ---- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await self.ensure_queue()
        self._tasks = [asyncio.create_task(self._run(), name="dispatcher"),
                       asyncio.create_task(self._match_loop(), name="matcher")]

    async def stop(self) -> None:
        await cancel(*self._tasks)

    def kick(self) -> None:
        """Run a matching pass now rather than at the next tick."""
        self._wake.set()

    async def _match_loop(self) -> None:
        """Matching runs on its own: a freed seat or a new worker is matched at once,
        never behind the periodic work (position pushes grow with the queue)."""
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # lands as the event fires (see periodic.cancel).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await self._wake.wait()
            self._wake.clear()
            self._not_matching.clear()
            try:
                await self.match()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("matching failed")
            finally:
                self._not_matching.set()

    async def _run(self) -> None:
        """Periodic work, once a tick whatever the load: positions and queue figures are
        pushed at most once a second, so their cost grows with the queue, not its square."""
        tick = 0
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            tick += 1
            steps: list[Callable[[], Awaitable[None]]] = []
            # By the clock, first: under load a tick's steps take longer than a tick, and
            # presence renewed every few ticks then lapsed while the counselor was here.
            if time.monotonic() - renewed >= self._heartbeat_ticks * TICK_S:
                renewed = time.monotonic()
                steps.append(self.heartbeats)
            steps += [self.push_positions, self.push_queue_stats]
            steps.append(self.revalidate_sessions)
            if tick % RECONCILE_EVERY_TICKS == 0:
                steps += [self.reconcile, self.follow_missed]
            if tick % SWEEP_EVERY_TICKS == 0:
                steps += [self.ensure_queue, self.sweep_counselors, self.sweep_workers,
                          self.sweep_gone_workers,
                          self.sweep_closing, self.sweep_wrapups, self.sweep_silent]
            for step in steps:
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("dispatcher step failed",
                                  extra={"fields": {"step": step.__name__}})

    # ---- queue rebuilt from the record ----------------------------------------------

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
                    self.kick()
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
        for conns in node.connections.values():
            for conn in conns:
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
                    frame = {"type": "assigned", "conversation": await self.staff_view(conv)}
                    conn.spawn(conn.follow_by_id(conv.id, frame))

    # ---- welcome --------------------------------------------------------------------

    async def welcome(self, conn: Connection) -> dict[str, Any]:
        if conn.role is Role.WORKER:
            return await self._welcome_worker(conn)
        return await self._welcome_staff(conn)

    async def _welcome_worker(self, conn: Connection) -> dict[str, Any]:
        from chat_server.chat.endpoint import may_access

        node = self.node
        p = conn.principal
        conv = await node.conversations.open_for_session(p.id, p.token_hash, p.devices)
        info: dict[str, Any] | None = None
        waiting = False
        if conv is not None and may_access(conn, conv):
            await conn.follow(conv)
            info = await self._conversation_info(conv)
            if conv.status == "waiting":
                await node.queue.touch_worker(conv.id, node.settings.worker_keep_s,
                                              node.now_ms())
                await node.queue.forget_away(conv.id)  # back: not to be swept as gone
                waiting = True
            elif await node.queue.worker_returned(conv.id, self._link_until()):
                # Only after a `worker_away`: a node that died told none, and a worker
                # back before its link lapsed was never reported away.
                await node.hub.publish(conversation_channel(conv.id), {
                    "t": "frame", "roles": ["counselor", "supervisor"],
                    "frame": {"type": "worker_back", "conversation_id": conv.id}})
        reply = {
            "last_ended": await self._last_ended(conn) if info is None else None,
            "type": "welcome", "role": "worker", "alias": conn.principal.name,
            "history_access": conn.principal.history_access,
            # Always false: a session cannot learn of conversations it may not read.
            "conversation": info, "open_elsewhere": False,
            "service": await self.status(),
        }
        if waiting:
            # Only now, with nothing left to await: a match must not be told before the
            # welcome that says the worker is waiting (see request_chat).
            self.kick()
        return reply

    async def _last_ended(self, conn: Connection) -> dict[str, Any] | None:
        """This session's conversation that ended while the worker was away, for rating."""
        row = await self.node.services.pool.fetchrow(
            "SELECT c.id, c.ended_by, r.conversation_id IS NOT NULL AS rated FROM conversations c"
            " LEFT JOIN ratings r ON r.conversation_id = c.id"
            " WHERE c.worker_id = $1 AND c.opened_by_session = $2 AND c.status = 'ended'"
            " AND c.ended_at > $3 ORDER BY c.ended_at DESC LIMIT 1",
            uuid.UUID(conn.principal.id), conn.principal.token_hash,
            self.node.now() - dt.timedelta(days=1))
        if row is None:
            return None
        return {"id": str(row["id"]), "by": row["ended_by"], "rated": row["rated"]}

    async def _conversation_info(self, conv: Conversation) -> dict[str, Any]:
        info: dict[str, Any] = {"id": conv.id, "status": conv.status, "last_seq": conv.last_seq,
                                "counselor": None, "position": None, "estimated_wait_s": None}
        if conv.status == "active" and conv.counselor_id:
            info["counselor"] = await self.display_name(conv.counselor_id)
        if conv.status == "waiting":
            position = (await self.node.queue.positions([conv.id])).get(conv.id)
            info["position"] = position
            info["estimated_wait_s"] = await self.estimate(position)
            info.update(await self.wait_extras(info["estimated_wait_s"]))
        return info

    async def display_name(self, staff_id: str) -> str:
        return await self.node.services.pool.fetchval(
            "SELECT display_name FROM staff WHERE id = $1", uuid.UUID(staff_id)
        ) or ""

    async def _welcome_staff(self, conn: Connection) -> dict[str, Any]:
        node = self.node
        p = conn.principal
        conversations: list[dict[str, Any]] = []
        if p.role is Role.COUNSELOR:
            for conv in await node.conversations.active_for_counselor(p.id):
                await conn.follow(conv)
                conversations.append(await self.staff_view(conv))
        seat = await self._seat(p.id)
        conn.on_duty = seat is not None
        if conn.on_duty and p.role is Role.COUNSELOR:
            await self.counselor_here(p.id)
        frame: dict[str, Any] = {
            "type": "welcome", "role": str(p.role),
            "staff": {"id": p.id, "display_name": p.name, "role": str(p.role),
                      "capacity": p.capacity},
            "duty": self._duty_frame(p.capacity, seat, len(conversations))["duty"],
            "conversations": conversations,
            "queue": await self.queue_stats(),
            "service": await self.status(),
        }
        for extra in node.welcome_extras:
            frame.update(await extra(conn))
        return frame

    async def staff_view(self, conv: Conversation, handover: bool = False) -> dict[str, Any]:
        alias = await self.node.services.pool.fetchval(
            "SELECT COALESCE(c.alias, w.alias) FROM conversations c"
            " JOIN workers w ON w.id = c.worker_id WHERE c.id = $1", uuid.UUID(conv.id))
        view = self.staff_view_of(conv, alias, handover)
        since = (await self.node.queue.away_since([conv.id])).get(conv.id)
        view["worker_presence"] = self.worker_presence(since)
        return view

    @staticmethod
    def staff_view_of(conv: Conversation, alias: str, handover: bool = False) -> dict[str, Any]:
        return {"id": conv.id, "alias": alias, "status": conv.status, "last_seq": conv.last_seq,
                "risk_level": conv.risk_level,
                "matched_at": conv.matched_at.isoformat() if conv.matched_at else None,
                "handover": handover,
                "worker_presence": {"away_since": None, "gone_at": None, "release_at": None}}

    # ---- status ---------------------------------------------------------------------

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
        from chat_server.crisis.hotlines import HOTLINES

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
            "hotlines": HOTLINES,
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
        for hook in self.wait_hooks:
            extras.update(await hook(estimate))
        return extras

    async def queue_stats(self) -> dict[str, Any]:
        node = self.node
        length = await node.queue.length()
        oldest = await node.queue.oldest_enqueued_ms()
        longest = max(0, (node.now_ms() - oldest) // 1000) if oldest is not None else 0
        return {"length": length, "longest_wait_s": longest}

    # ---- workers --------------------------------------------------------------------

    async def request_chat(self, conn: Connection, *, replace: bool) -> dict[str, Any]:
        from chat_server.chat.endpoint import may_access

        node = self.node
        now = node.now()
        if not node.hours.is_open(now):
            raise ProtocolError(ErrorCode.SERVICE_CLOSED, "intake is closed now",
                                next_open=node.hours.next_open(now).isoformat())
        p = conn.principal
        # Only conversations this session may read are looked at: one opened on another
        # device is neither seen nor ended (`replace` is ignored, see docs/PROTOCOL.md).
        existing = await node.conversations.open_for_session(p.id, p.token_hash, p.devices)
        if existing is not None and may_access(conn, existing):
            raise ProtocolError(ErrorCode.ALREADY_OPEN, "you already have a conversation",
                                conversation_id=existing.id)
        try:
            conv = await node.conversations.open(
                p.id, p.token_hash, p.devices[0] if p.devices else None, alias=p.name)
        except asyncpg.UniqueViolationError:
            raise ProtocolError(ErrorCode.ALREADY_OPEN, "you already have a conversation") from None
        await node.queue.enqueue(conv.id, Band(conv.band), node.now_ms(),
                                 node.settings.worker_keep_s, node.now_ms())
        await conn.follow(conv)
        for hook in self.chat_hooks:
            await hook(conn, conv)
        position = (await node.queue.positions([conv.id])).get(conv.id)
        estimate = await self.estimate(position)
        reply = {"type": "queued", "conversation_id": conv.id, "position": position,
                 "estimated_wait_s": estimate, **await self.wait_extras(estimate)}
        # Matching is woken only now, with no await before the reply is pushed: this
        # node's `matched` then never overtakes the `queued` reply. (Another node's
        # matcher still may; clients treat a `queued` after `matched` as stale.)
        self.kick()
        return reply

    async def leave(self, conv: Conversation) -> None:
        node = self.node
        await node.queue.leave(conv.id)
        ended = await node.conversations.end(conv.id, "worker_left_queue")
        if ended is not None:
            await node.hub.publish(conversation_channel(conv.id), {
                "t": "frame", "frame": {"type": "left", "conversation_id": conv.id}})

    # ---- ending ---------------------------------------------------------------------

    async def end(self, conversation_id: str, by: str, *, recorded_as: str | None = None,
                  counselor_id: str | None = None) -> Conversation | None:
        """End a conversation for one of its sides (`by`, as the frame says; the record
        keeps `recorded_as` if given) and tell everyone; None if it was already closed
        (or `counselor_id` no longer serves it)."""
        node = self.node
        # Without wrap-up the seat is given back in the ending's own commit.
        no_wrapup = node.settings.wrapup_s == 0
        ended = await node.conversations.end(conversation_id, recorded_as or by,
                                             release_seat=no_wrapup,
                                             counselor_id=counselor_id)
        if ended is None:
            return None
        frame: dict[str, Any] = {"type": "ended", "conversation_id": ended.id, "by": by}
        await node.queue.forget_away(ended.id)
        if ended.status == "abandoned":
            await node.queue.leave(ended.id)
        elif ended.counselor_id:
            # The seat stays taken while the counselor writes the case note (wrap-up).
            frame["wrapup_until"] = (
                node.now() + dt.timedelta(seconds=node.settings.wrapup_s)).isoformat()
            if no_wrapup:
                await self._seat_freed(ended.counselor_id)
        await node.hub.publish(conversation_channel(ended.id), {"t": "frame", "frame": frame})
        return ended

    async def release_seat(self, conversation_id: str) -> None:
        """The case note is saved (or wrap-up is off): the seat is free for the next worker."""
        staff_id = await self.node.conversations.release_seat(conversation_id)
        if staff_id is not None:
            await self._seat_freed(staff_id)

    async def _seat_freed(self, staff_id: str) -> None:
        await self.node.queue.release(staff_id, self.node.now_ms())
        self.kick()

    async def sweep_wrapups(self) -> None:
        node = self.node
        cutoff = node.now() - dt.timedelta(seconds=node.settings.wrapup_s)
        for staff_id in await node.conversations.release_wrapped_up(cutoff):
            await node.queue.release(staff_id, node.now_ms())
            self.kick()

    # ---- duty -----------------------------------------------------------------------

    async def _seat(self, staff_id: str) -> Any:
        for seat in await self.node.queue.on_duty():
            if seat.staff_id == staff_id:
                return seat
        return None

    def _duty_frame(self, capacity: int, seat: Any, load: int) -> dict[str, Any]:
        return {"type": "duty", "on": seat is not None,
                "duty": {"on": seat is not None, "load": seat.load if seat else load,
                         "capacity": seat.capacity if seat else capacity,
                         "draining": bool(seat.draining) if seat else False},
                "load": seat.load if seat else load,
                "capacity": seat.capacity if seat else capacity,
                "draining": bool(seat.draining) if seat else False}

    async def set_duty(self, conn: Connection, on: bool) -> dict[str, Any]:
        node = self.node
        p = conn.principal
        load = await node.conversations.seat_load(p.id)
        capacity = await self._capacity(p.id)
        if on:
            now = node.now()
            if not node.hours.is_open(now):
                raise ProtocolError(ErrorCode.SERVICE_CLOSED, "intake is closed now",
                                    next_open=node.hours.next_open(now).isoformat())
            for guard in node.duty_guards:
                problem = await guard(p.id, now)
                if problem:
                    raise ProtocolError(ErrorCode.FORBIDDEN, problem)
            # Already on duty (another tab): keep the seat; re-registering would reset
            # the load Redis counts, matches in flight included.
            if await self._seat(p.id) is None:
                await node.queue.counselor_on_duty(p.id, capacity, load, node.now_ms(),
                                                   node.settings.presence_ttl_s)
        else:
            await node.queue.counselor_off_duty(p.id)
        self.seats_changed()
        seat = await self._seat(p.id)
        frame = self._duty_frame(capacity, seat, load)
        await node.hub.publish(user_channel(p.id), {"t": "duty", "frame": frame})
        await self._audit(p.id, "duty_on" if on else "duty_off")
        if on:
            self.kick()  # after the duty frames: `assigned` must not overtake them
        return {k: v for k, v in frame.items() if k != "duty"}

    async def set_capacity(self, conn: Connection, capacity: int) -> dict[str, Any]:
        node = self.node
        p = conn.principal
        await node.services.pool.execute(
            "UPDATE staff SET capacity = $2 WHERE id = $1", uuid.UUID(p.id), capacity)
        await node.queue.set_capacity(p.id, capacity)
        self.seats_changed()
        load = await node.conversations.seat_load(p.id)
        frame = self._duty_frame(capacity, await self._seat(p.id), load)
        self.kick()  # with nothing left to await: the reply goes before any `assigned`
        return {k: v for k, v in frame.items() if k != "duty"}

    async def _capacity(self, staff_id: str) -> int:
        return int(await self.node.services.pool.fetchval(
            "SELECT capacity FROM staff WHERE id = $1", uuid.UUID(staff_id)) or 1)

    async def _audit(self, staff_id: str | None, action: str, conversation_id: str | None = None,
                     reason: str | None = None) -> None:
        await self.node.services.pool.execute(
            "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at)"
            " VALUES ($1, $2, $3, $4, $5)",
            uuid.UUID(staff_id) if staff_id else None, action,
            uuid.UUID(conversation_id) if conversation_id else None, reason, self.node.now())

    async def disconnected(self, conn: Connection) -> None:
        """A socket closed. Presence TTLs, not this, decide who is gone (phones flap)."""
        node = self.node
        if conn.role is Role.COUNSELOR and conn.on_duty and not node.local(conn.principal.id):
            # Renewed now, so it lapses a full TTL after the last socket left, not a TTL
            # after the last periodic heartbeat (which may be most of a TTL ago).
            await node.queue.heartbeat(conn.principal.id, node.settings.presence_ttl_s)
        if conn.role is Role.WORKER and not node.local(conn.principal.id):
            for conv_id in list(conn.cursors):
                if not await node.queue.worker_left(conv_id, node.now_ms()):
                    continue  # told already (by the sweep, or another of its sockets)
                await self._tell_worker_away(conv_id)

    def worker_presence(self, away_since_ms: int | None) -> dict[str, Any]:
        """What a counselor is told of the worker: online, away (until `gone_at`), gone."""
        if away_since_ms is None:
            return {"away_since": None, "gone_at": None, "release_at": None}
        settings = self.node.settings

        def iso(ms: int) -> str:
            return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()

        return {"away_since": iso(away_since_ms),
                "gone_at": iso(away_since_ms + settings.worker_grace_s * 1000),
                "release_at": iso(away_since_ms + settings.worker_keep_s * 1000)}

    async def _tell_worker_away(self, conv_id: str) -> None:
        since = (await self.node.queue.away_since([conv_id])).get(conv_id)
        await self.node.hub.publish(conversation_channel(conv_id), {
            "t": "frame", "roles": ["counselor", "supervisor"],
            "frame": {"type": "worker_away", "conversation_id": conv_id,
                      **self.worker_presence(since)}})

    # ---- the loop's steps -----------------------------------------------------------

    async def match(self) -> None:
        node = self.node
        if not node.hours.is_open(node.now()):
            return
        async with self._match_lock:
            # Each match touches its own rows: record them side by side, each from the
            # moment it is made (a freed seat's worker need not wait for the next search).
            recording: list[asyncio.Task[None]] = []

            def record(m: MatchResult) -> None:
                recording.append(asyncio.create_task(
                    self._record_match(m.conversation_id, m.staff_id)))

            try:
                batch = await node.queue.match_all(
                    node.now_ms(), on_match=record,
                    grace_ms=node.settings.worker_grace_s * 1000,
                    keep_ms=node.settings.worker_keep_s * 1000)
                for conv_id in batch.abandoned:
                    await self.end(conv_id, "timeout", recorded_as="worker_gone")
            finally:
                outcomes = await asyncio.gather(*recording, return_exceptions=True)
                for outcome in outcomes:
                    if isinstance(outcome, Exception):
                        # Its claim expires and the reconciler re-queues the worker.
                        log.error("match not recorded", exc_info=outcome)

    async def _record_match(self, conversation_id: str, staff_id: str) -> None:
        node = self.node
        named = await node.conversations.activate_named(conversation_id, staff_id)
        if named is None:
            await node.queue.unclaim(conversation_id, staff_id, node.now_ms())
            await node.queue.leave(conversation_id)
            return
        conv, counselor, alias = named
        metrics.MATCHES.inc()
        # Unseen while waiting (a closed socket) is not away from the chat now begun.
        await node.queue.forget_away(conversation_id)
        # Messages already stored mean an earlier counselor served it: a hand-over.
        handover = conv.last_seq > 0
        waited = max(0.0, (node.now() - conv.queued_at).total_seconds())
        if not handover:
            metrics.QUEUE_WAIT.observe(waited)
        # The record is written: drop the claim, note the wait, and tell both sides,
        # side by side rather than one round trip after another.
        await asyncio.gather(
            node.queue.confirm(conversation_id, staff_id),
            self._audit(staff_id, "handover_assign", conversation_id,
                        "previous counselor connection lost") if handover
            else node.queue.record_wait(waited),
            self._announce_match(conv, staff_id, counselor, alias, handover))

    async def _announce_match(self, conv: Conversation, staff_id: str, counselor: Any,
                              alias: str, handover: bool) -> None:
        node = self.node
        # The worker side: the sockets of sessions that may read it (may_read), never
        # every socket of the worker: those holding the device that opened it, and the
        # session that opened it (the only way in for conversations from before devices).
        worker = (device_channel(conv.opened_by_device) if conv.opened_by_device
                  else session_channel(conv.opened_by_session or b""))
        await node.hub.publish_many([
            (worker, {
                "t": "follow", "c": conv.id,
                "frame": {"type": "matched", "conversation_id": conv.id,
                          "counselor": counselor, "last_seq": conv.last_seq}}),
            (user_channel(staff_id), {
                "t": "follow", "c": conv.id,
                "frame": {"type": "assigned",
                          "conversation": self.staff_view_of(conv, alias, handover)}}),
        ])

    def _local_worker_conversations(self) -> dict[str, list[Connection]]:
        """Conversations local worker sockets follow that may be waiting: not those the
        socket knows as active (matched; a hand-over's `queued` makes it forget), so a
        busy hour's chats in progress do not double the positions asked of Redis. The
        heartbeat renews worker presence for these only: matching (and undoing a match)
        is all that reads it, and only for waiting conversations."""
        waiting: dict[str, list[Connection]] = {}
        for conns in self.node.connections.values():
            for conn in conns:
                if conn.role is Role.WORKER:
                    for conv_id in conn.cursors:
                        if conv_id not in conn.known:
                            waiting.setdefault(conv_id, []).append(conn)
        return waiting

    async def push_positions(self) -> None:
        """Tell local waiting workers their place when it changes.

        One pipelined read of all positions, one read of seats and recent waits, then pure
        arithmetic per worker: the cost per waiting worker per tick is constant.
        """
        node = self.node
        waiting = self._local_worker_conversations()
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
                conn.push({"type": "queue", "conversation_id": conv_id, "position": position,
                           "estimated_wait_s": shown, **extras})
            pushed += 1
            if pushed % PUSH_GROUP == 0:
                await asyncio.sleep(PUSH_PAUSE_S)
                await self._give_way_to_matching()
        for gone in set(self._last_positions) - set(positions):
            del self._last_positions[gone]

    async def _give_way_to_matching(self) -> None:
        """Between groups of position frames, let a match in progress finish first: a
        freed seat's next worker is who everyone waits for, and the match moves every
        position anyway. Bounded, so a run of matches cannot hold positions back long."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(GIVE_WAY_MAX_S):
                await self._not_matching.wait()

    async def push_queue_stats(self) -> None:
        node = self.node
        stats = await self.queue_stats()
        metrics.QUEUE_LENGTH.set(stats["length"])
        if stats == self._last_stats:
            return
        self._last_stats = stats
        for conns in node.connections.values():
            for conn in conns:
                if conn.principal.is_staff:
                    conn.push({"type": "queue_stats", **stats})

    async def heartbeats(self) -> None:
        """Keep presence of local counselors on duty and of local workers' conversations."""
        node = self.node
        counselors = {conn.principal.id for conns in node.connections.values()
                      for conn in conns if conn.role is Role.COUNSELOR and conn.on_duty}
        for staff_id in counselors:
            if not await node.queue.heartbeat(staff_id, node.settings.presence_ttl_s):
                # Redis lost the seat (restart): restore it from the record.
                load = await node.conversations.seat_load(staff_id)
                await node.queue.counselor_on_duty(
                    staff_id, await self._capacity(staff_id), load, node.now_ms(),
                    node.settings.presence_ttl_s)
        await node.queue.touch_workers(list(self._local_worker_conversations()),
                                       node.settings.worker_keep_s, node.now_ms())
        await node.queue.link_workers(
            list({conv_id for conns in node.connections.values() for conn in conns
                  if conn.role is Role.WORKER for conv_id in conn.known}),
            self._link_until())

    def _link_until(self) -> int:
        # As long as a counselor's presence: a dead node's workers are reported as soon.
        return self.node.now_ms() + self.node.settings.presence_ttl_s * 1000

    async def sweep_workers(self) -> None:
        """Tell counselors of workers whose node died (no socket closed to say so)."""
        node = self.node
        for conv_id in await node.queue.lapsed_workers(node.now_ms()):
            await self._tell_worker_away(conv_id)

    async def sweep_gone_workers(self) -> None:
        """Release the seat of a worker away longer than the place-keeping time."""
        node = self.node
        before = node.now_ms() - node.settings.worker_keep_s * 1000
        gone = await node.queue.gone_before(before)
        waiting = await node.queue.positions(gone)
        for conv_id in gone:
            if waiting.get(conv_id) is not None:
                # Still in the queue: its place is lost, as when the matcher drops it.
                ended = await self.end(conv_id, "timeout", recorded_as="worker_gone")
            else:
                ended = await self.end(conv_id, "worker_gone")
            if ended is None:
                await node.queue.forget_away(conv_id)  # ended meanwhile

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
        conns = [c for cs in node.connections.values() for c in cs
                 if c.principal.token_hash[0] % REVALIDATE_EVERY_TICKS == turn]
        if not conns:
            return
        hashes = list({c.principal.token_hash for c in conns})
        rows = await node.services.pool.fetch(
            "SELECT s.token_hash FROM sessions s LEFT JOIN staff st ON st.id = s.staff_id"
            " WHERE s.token_hash = ANY($1::bytea[]) AND s.revoked_at IS NULL"
            " AND s.expires_at > $2 AND (s.staff_id IS NULL OR st.disabled_at IS NULL)",
            hashes, node.now())
        valid = {bytes(r["token_hash"]) for r in rows}
        for conn in conns:
            if conn.principal.token_hash not in valid:
                conn.close(CloseCode.UNAUTHENTICATED)

    async def sweep_counselors(self) -> None:
        """Tell workers whose counselor vanished; after the grace period, hand them over."""
        node = self.node
        staff_ids = await node.conversations.counselors_serving()
        if not staff_ids:
            return
        present = await node.queue.is_present(staff_ids)
        rows = await node.conversations.active_to_sweep(
            [staff_id for staff_id in staff_ids if present.get(staff_id)])
        grace = node.settings.counselor_grace_s
        for r in rows:
            conv_id, staff_id = r["id"], r["counselor_id"]
            if staff_id not in present:
                continue  # matched since the first query: checked at the next sweep
            if present.get(staff_id):
                if (r["counselor_away_at"] is not None
                        and await node.conversations.mark_counselor_away(conv_id, False)):
                    await self._tell_worker(conv_id, "counselor_back")
                continue
            if r["counselor_away_at"] is None:
                # Every node sweeps: only the one whose mark took effect tells the worker.
                if await node.conversations.mark_counselor_away(conv_id, True):
                    await self._tell_worker(conv_id, "counselor_away")
                continue
            if (node.now() - r["counselor_away_at"]).total_seconds() < grace:
                continue
            await self.hand_over(conv_id, staff_id)

    async def _tell_worker(self, conversation_id: str, kind: str) -> None:
        # The worker's side only: a counselor is never told about their own presence.
        await self.node.hub.publish(conversation_channel(conversation_id), {
            "t": "frame", "roles": ["worker"],
            "frame": {"type": kind, "conversation_id": conversation_id}})

    async def counselor_here(self, staff_id: str) -> None:
        """A socket of this on-duty counselor opened: present from now, and workers told
        `counselor_away` hear `counselor_back` at once rather than at the next heartbeat."""
        node = self.node
        await node.queue.heartbeat(staff_id, node.settings.presence_ttl_s)
        for conv_id in await node.conversations.counselor_returned(staff_id):
            await self._tell_worker(conv_id, "counselor_back")

    async def hand_over(self, conversation_id: str, staff_id: str) -> None:
        node = self.node
        conv = await node.conversations.requeue(conversation_id, staff_id)
        if conv is None:
            return
        metrics.HANDOVERS.inc()
        # Front of the queue (it already waited once): just ahead of whoever has waited
        # longest, so "longest wait" stays a real wait, not the age of the conversation.
        oldest = await node.queue.oldest_enqueued_ms()
        front = node.now_ms() if oldest is None else min(node.now_ms(), oldest - 1)
        await node.queue.enqueue(conv.id, Band(min(conv.band, 1)), front,
                                 node.settings.worker_keep_s, node.now_ms())
        await node.queue.release(staff_id, node.now_ms())
        position = (await node.queue.positions([conv.id])).get(conv.id)
        await node.hub.publish_many([
            (conversation_channel(conv.id), {
                "t": "frame", "roles": ["worker"],
                "frame": {"type": "queued", "conversation_id": conv.id, "position": position,
                          "estimated_wait_s": await self.estimate(position),
                          "handover": True}}),
            (user_channel(staff_id), {
                "t": "unfollow", "c": conv.id,
                "frame": {"type": "handed_over", "conversation_id": conv.id}}),
        ])
        self.kick()

    async def sweep_silent(self) -> None:
        """End conversations in which nobody has written for `silent_end_s`.

        This is how the open conversation of a worker who lost the phone (and never set a
        PIN) ends: no other sign-in may read or end it (docs/SECURITY.md), so it ends on
        its own once silent; the counselor can end it sooner on seeing `worker_away`.
        """
        node = self.node
        if node.settings.silent_end_s <= 0:
            return
        before = node.now() - dt.timedelta(seconds=node.settings.silent_end_s)
        for conv_id in await node.conversations.silent_since(before):
            await self.end(conv_id, "timeout", recorded_as="silent")

    async def sweep_closing(self) -> None:
        """At closing time nobody new is matched: tell waiting workers and close their wait."""
        node = self.node
        now = node.now()
        if node.hours.is_open(now):
            return
        for r in await node.conversations.waiting():
            conv_id = str(r["id"])
            ended = await node.conversations.end(conv_id, "service_closed")
            await node.queue.leave(conv_id)
            if ended is not None:
                from chat_server.crisis.hotlines import HOTLINES

                await node.hub.publish(conversation_channel(conv_id), {
                    "t": "frame", "frame": {
                        "type": "service_closed", "conversation_id": conv_id,
                        "next_open": node.hours.next_open(now).isoformat(),
                        "hotlines": HOTLINES}})
