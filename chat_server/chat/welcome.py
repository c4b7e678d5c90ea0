"""The first frame of every socket: who you are, your conversations, the service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chat_server.chat.connection import Connection, may_access
from chat_server.chat.duty import Duty, duty_frame
from chat_server.chat.hub import conversation_channel
from chat_server.chat.node import Node
from chat_server.chat.people_store import PeopleStore
from chat_server.chat.plugins import Plugins
from chat_server.chat.presence import Presence
from chat_server.chat.store import Conversation
from chat_server.chat.views import StaffViews
from chat_server.chat.waiting import Waiting
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.events import FrameEvent
from chat_server.wire.protocol import Role

# Who hears of a worker's comings and goings.
STAFF_ROLES = ("counselor", "supervisor")


class Welcome:
    def __init__(self, node: Node, wake: Wake, waiting: Waiting, duty: Duty,
                 presence: Presence, views: StaffViews, people: PeopleStore,
                 plugins: Plugins) -> None:
        self.node = node
        self.wake = wake
        self.waiting = waiting
        self.duty = duty
        self.presence = presence
        self.views = views
        self.people = people
        self.plugins = plugins

    async def welcome(self, conn: Connection) -> frames.WorkerWelcome | frames.StaffWelcome:
        if conn.role is Role.WORKER:
            return await self._worker(conn)
        return await self._staff(conn)

    async def _worker(self, conn: Connection) -> frames.WorkerWelcome:
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
            elif await node.queue.worker_returned(conv.id, self.presence.link_until()):
                # Only after a `worker_away`: a node that died told none, and a worker
                # back before its link lapsed was never reported away.
                await node.hub.publish(conversation_channel(conv.id), FrameEvent(
                    frames.WorkerBack(conv.id).to_wire(), roles=STAFF_ROLES))
        last_ended = await self._last_ended(conn) if info is None else None
        reply = frames.WorkerWelcome(
            alias=conn.principal.name, history_access=conn.principal.history_access,
            conversation=info, last_ended=last_ended, service=await self.waiting.status())
        if waiting:
            # Only now, with nothing left to await: a match must not be told before the
            # welcome that says the worker is waiting (see Intake.request_chat).
            self.wake.kick()
        return reply

    async def _last_ended(self, conn: Connection) -> dict[str, Any] | None:
        """This session's conversation that ended while the worker was away, for rating."""
        p = conn.principal
        last = await self.people.last_ended(p.id, p.token_hash,
                                            self.node.now() - dt.timedelta(days=1))
        if last is None:
            return None
        return {"id": last.id, "by": last.by, "rated": last.rated}

    async def _conversation_info(self, conv: Conversation) -> dict[str, Any]:
        info: dict[str, Any] = {"id": conv.id, "status": conv.status, "last_seq": conv.last_seq,
                                "counselor": None, "position": None, "estimated_wait_s": None}
        if conv.status == "active" and conv.counselor_id:
            info["counselor"] = await self.people.display_name(conv.counselor_id)
        if conv.status == "waiting":
            position = (await self.node.queue.positions([conv.id])).get(conv.id)
            info["position"] = position
            info["estimated_wait_s"] = await self.waiting.estimate(position)
            info.update(await self.waiting.wait_extras(info["estimated_wait_s"]))
        return info

    async def _staff(self, conn: Connection) -> frames.StaffWelcome:
        node = self.node
        p = conn.principal
        conversations: list[dict[str, Any]] = []
        if p.role is Role.COUNSELOR:
            for conv in await node.conversations.active_for_counselor(p.id):
                await conn.follow(conv)
                conversations.append(await self.views.staff_view(conv))
        seat = await self.duty.seat(p.id)
        conn.on_duty = seat is not None
        if conn.on_duty and p.role is Role.COUNSELOR:
            await self.presence.counselor_here(p.id)
        duty = duty_frame(p.capacity, seat, len(conversations))
        staff = {"id": p.id, "display_name": p.name, "role": str(p.role),
                 "capacity": p.capacity}
        queue = await self.waiting.queue_stats()
        service = await self.waiting.status()
        extras: dict[str, Any] = {}
        for extra in self.plugins.welcome_extras:
            extras.update(await extra.welcome_extra(conn))
        return frames.StaffWelcome(
            role=str(p.role), staff=staff,
            duty={"on": duty.on, "load": duty.load, "capacity": duty.capacity,
                  "draining": duty.draining},
            conversations=conversations, queue=queue, service=service, extra=extras)
