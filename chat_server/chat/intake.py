"""A worker asks for a chat: checked, recorded, queued, answered with a place."""

from __future__ import annotations

import asyncpg

from chat_queue.matching import Band
from chat_server.chat.connection import Connection, may_access
from chat_server.chat.node import Node
from chat_server.chat.plugins import Plugins
from chat_server.chat.waiting import Waiting
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.protocol import ErrorCode, ProtocolError


class Intake:
    def __init__(self, node: Node, wake: Wake, waiting: Waiting, plugins: Plugins) -> None:
        self.node = node
        self.wake = wake
        self.waiting = waiting
        self.plugins = plugins

    async def request_chat(self, conn: Connection, *, replace: bool) -> frames.Queued:
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
        for observer in self.plugins.intake_observers:
            await observer.chat_requested(conn, conv)
        position = (await node.queue.positions([conv.id])).get(conv.id)
        estimate = await self.waiting.estimate(position)
        reply = frames.Queued(conv.id, position, estimate,
                              extra=await self.waiting.wait_extras(estimate))
        # Matching is woken only now, with no await before the reply is pushed: this
        # node's `matched` then never overtakes the `queued` reply. (Another node's
        # matcher still may; clients treat a `queued` after `matched` as stale.)
        self.wake.kick()
        return reply
