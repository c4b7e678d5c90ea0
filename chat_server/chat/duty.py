"""Counselors going on and off duty, and the seats they offer."""

from __future__ import annotations

import dataclasses

from chat_queue.store import SeatState
from chat_server.chat.connection import Connection
from chat_server.chat.hub import user_channel
from chat_server.chat.node import Node
from chat_server.chat.people_store import PeopleStore
from chat_server.chat.plugins import Plugins
from chat_server.chat.waiting import Waiting
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.events import DutyEvent
from chat_server.wire.protocol import ErrorCode, ProtocolError


def duty_frame(capacity: int, seat: SeatState | None, load: int,
               *, nested: bool = True) -> frames.Duty:
    """The `duty` frame for a seat (None: off duty, with the record's load)."""
    if seat is None:
        return frames.Duty(False, load, capacity, False, nested=nested)
    return frames.Duty(True, seat.load, seat.capacity, bool(seat.draining), nested=nested)


class Duty:
    def __init__(self, node: Node, wake: Wake, waiting: Waiting, people: PeopleStore,
                 plugins: Plugins) -> None:
        self.node = node
        self.wake = wake
        self.waiting = waiting
        self.people = people
        self.plugins = plugins

    async def seat(self, staff_id: str) -> SeatState | None:
        for seat in await self.node.queue.on_duty():
            if seat.staff_id == staff_id:
                return seat
        return None

    async def set_duty(self, conn: Connection, on: bool) -> frames.Duty:
        node = self.node
        p = conn.principal
        load = await node.conversations.seat_load(p.id)
        capacity = await self.people.capacity(p.id)
        if on:
            now = node.now()
            if not node.hours.is_open(now):
                raise ProtocolError(ErrorCode.SERVICE_CLOSED, "intake is closed now",
                                    next_open=node.hours.next_open(now).isoformat())
            for guard in self.plugins.duty_guards:
                problem = await guard.guard(p.id, now)
                if problem:
                    raise ProtocolError(ErrorCode.FORBIDDEN, problem)
            # Already on duty (another tab): keep the seat; re-registering would reset
            # the load Redis counts, matches in flight included.
            if await self.seat(p.id) is None:
                await node.queue.counselor_on_duty(p.id, capacity, load, node.now_ms(),
                                                   node.settings.presence_ttl_s)
        else:
            await node.queue.counselor_off_duty(p.id)
        self.waiting.seats_changed()
        seat = await self.seat(p.id)
        frame = duty_frame(capacity, seat, load)
        await node.hub.publish(user_channel(p.id), DutyEvent(frame.to_wire()))
        await self.people.audit(p.id, "duty_on" if on else "duty_off", node.now())
        if on:
            self.wake.kick()  # after the duty frames: `assigned` must not overtake them
        return dataclasses.replace(frame, nested=False)

    async def set_capacity(self, conn: Connection, capacity: int) -> frames.Duty:
        node = self.node
        p = conn.principal
        await self.people.set_capacity(p.id, capacity)
        await node.queue.set_capacity(p.id, capacity)
        self.waiting.seats_changed()
        load = await node.conversations.seat_load(p.id)
        frame = duty_frame(capacity, await self.seat(p.id), load, nested=False)
        self.wake.kick()  # with nothing left to await: the reply goes before any `assigned`
        return frame
