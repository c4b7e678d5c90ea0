"""How conversations end or change hands: ending, leaving the queue, seats, hand-over."""

from __future__ import annotations

import datetime as dt

from chat_queue.matching import Band
from chat_server import metrics
from chat_server.chat.hub import conversation_channel, user_channel
from chat_server.chat.node import Node
from chat_server.chat.store import Conversation
from chat_server.chat.waiting import Waiting
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.events import FrameEvent, Unfollow


class Ending:
    def __init__(self, node: Node, wake: Wake, waiting: Waiting) -> None:
        self.node = node
        self.wake = wake
        self.waiting = waiting

    async def end(self, conversation_id: str, by: str, *, recorded_as: str | None = None,
                  counselor_id: str | None = None) -> frames.Ended | None:
        """End a conversation for one of its sides (`by`, as the frame says; the record
        keeps `recorded_as` if given) and tell everyone; the `ended` frame they were sent,
        or None if it was already closed (or `counselor_id` no longer serves it)."""
        node = self.node
        # Without wrap-up the seat is given back in the ending's own commit.
        no_wrapup = node.settings.wrapup_s == 0
        ended = await node.conversations.end(conversation_id, recorded_as or by,
                                             release_seat=no_wrapup,
                                             counselor_id=counselor_id)
        if ended is None:
            return None
        wrapup_until = None
        await node.queue.forget_away(ended.id)
        if ended.status == "abandoned":
            await node.queue.leave(ended.id)
        elif ended.counselor_id:
            # The seat stays taken while the counselor writes the case note (wrap-up).
            wrapup_until = (
                node.now() + dt.timedelta(seconds=node.settings.wrapup_s)).isoformat()
            if no_wrapup:
                await self.seat_freed(ended.counselor_id)
        frame = frames.Ended(ended.id, by, wrapup_until=wrapup_until)
        await node.hub.publish(conversation_channel(ended.id), FrameEvent(frame.to_wire()))
        return frame

    async def leave(self, conv: Conversation) -> None:
        node = self.node
        await node.queue.leave(conv.id)
        ended = await node.conversations.end(conv.id, "worker_left_queue")
        if ended is not None:
            await node.hub.publish(conversation_channel(conv.id),
                                   FrameEvent(frames.Left(conv.id).to_wire()))

    async def release_seat(self, conversation_id: str) -> None:
        """The case note is saved (or wrap-up is off): the seat is free for the next worker."""
        staff_id = await self.node.conversations.release_seat(conversation_id)
        if staff_id is not None:
            await self.seat_freed(staff_id)

    async def seat_freed(self, staff_id: str) -> None:
        await self.node.queue.release(staff_id, self.node.now_ms())
        self.wake.kick()

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
        queued = frames.Queued(conv.id, position, await self.waiting.estimate(position),
                               handover=True)
        await node.hub.publish_many([
            (conversation_channel(conv.id), FrameEvent(queued.to_wire(), roles=("worker",))),
            (user_channel(staff_id),
             Unfollow(conv.id, frames.HandedOver(conv.id).to_wire())),
        ])
        self.wake.kick()
