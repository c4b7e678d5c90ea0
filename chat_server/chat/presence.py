"""Who is here: counselors' and workers' presence, and telling the other side."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chat_server.chat.connection import Connection
from chat_server.chat.hub import conversation_channel
from chat_server.chat.node import Node
from chat_server.chat.sockets import Sockets
from chat_server.wire import frames
from chat_server.wire.events import FrameEvent
from chat_server.wire.protocol import Role


class Presence:
    def __init__(self, node: Node, sockets: Sockets) -> None:
        self.node = node
        self.sockets = sockets

    def link_until(self) -> int:
        # As long as a counselor's presence: a dead node's workers are reported as soon.
        return self.node.now_ms() + self.node.settings.presence_ttl_s * 1000

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

    async def tell_worker(self, frame: frames.CounselorAway | frames.CounselorBack) -> None:
        # The worker's side only: a counselor is never told about their own presence.
        await self.node.hub.publish(conversation_channel(frame.conversation_id),
                                    FrameEvent(frame.to_wire(), roles=("worker",)))

    async def tell_worker_away(self, conv_id: str) -> None:
        since = (await self.node.queue.away_since([conv_id])).get(conv_id)
        frame = frames.WorkerAway(conv_id, **self.worker_presence(since))
        await self.node.hub.publish(conversation_channel(conv_id),
                                    FrameEvent(frame.to_wire(), roles=("counselor", "supervisor")))

    async def counselor_here(self, staff_id: str) -> None:
        """A socket of this on-duty counselor opened: present from now, and workers told
        `counselor_away` hear `counselor_back` at once rather than at the next heartbeat."""
        node = self.node
        await node.queue.heartbeat(staff_id, node.settings.presence_ttl_s)
        for conv_id in await node.conversations.counselor_returned(staff_id):
            await self.tell_worker(frames.CounselorBack(conv_id))

    async def disconnected(self, conn: Connection) -> None:
        """A socket closed. Presence TTLs, not this, decide who is gone (phones flap)."""
        node = self.node
        alone = not self.sockets.local(conn.principal.id)
        if conn.role is Role.COUNSELOR and conn.on_duty and alone:
            # Renewed now, so it lapses a full TTL after the last socket left, not a TTL
            # after the last periodic heartbeat (which may be most of a TTL ago).
            await node.queue.heartbeat(conn.principal.id, node.settings.presence_ttl_s)
        if conn.role is Role.WORKER and alone:
            for conv_id in list(conn.cursors):
                if not await node.queue.worker_left(conv_id, node.now_ms()):
                    continue  # told already (by the sweep, or another of its sockets)
                await self.tell_worker_away(conv_id)
