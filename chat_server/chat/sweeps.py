"""Deadlines the record keeps: vanished counselors and workers, wrap-ups, silence, closing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from chat_server.chat.ending import Ending
from chat_server.chat.hub import conversation_channel
from chat_server.chat.node import Node
from chat_server.chat.presence import Presence
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.events import FrameEvent


class Sweeps:
    def __init__(self, node: Node, wake: Wake, ending: Ending, presence: Presence,
                 hotlines: Sequence[Mapping[str, Any]]) -> None:
        self.node = node
        self.wake = wake
        self.ending = ending
        self.presence = presence
        self.hotlines = list(hotlines)

    async def sweep_workers(self) -> None:
        """Tell counselors of workers whose node died (no socket closed to say so)."""
        node = self.node
        for conv_id in await node.queue.lapsed_workers(node.now_ms()):
            await self.presence.tell_worker_away(conv_id)

    async def sweep_gone_workers(self) -> None:
        """Release the seat of a worker away longer than the place-keeping time."""
        node = self.node
        before = node.now_ms() - node.settings.worker_keep_s * 1000
        gone = await node.queue.gone_before(before)
        waiting = await node.queue.positions(gone)
        for conv_id in gone:
            if waiting.get(conv_id) is not None:
                # Still in the queue: its place is lost, as when the matcher drops it.
                ended = await self.ending.end(conv_id, "timeout", recorded_as="worker_gone")
            else:
                ended = await self.ending.end(conv_id, "worker_gone")
            if ended is None:
                await node.queue.forget_away(conv_id)  # ended meanwhile

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
                    await self.presence.tell_worker(frames.CounselorBack(conv_id))
                continue
            if r["counselor_away_at"] is None:
                # Every node sweeps: only the one whose mark took effect tells the worker.
                if await node.conversations.mark_counselor_away(conv_id, True):
                    await self.presence.tell_worker(frames.CounselorAway(conv_id))
                continue
            if (node.now() - r["counselor_away_at"]).total_seconds() < grace:
                continue
            await self.ending.hand_over(conv_id, staff_id)

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
            await self.ending.end(conv_id, "timeout", recorded_as="silent")

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
                frame = frames.ServiceClosed(conv_id, node.hours.next_open(now).isoformat(),
                                             self.hotlines)
                await node.hub.publish(conversation_channel(conv_id),
                                       FrameEvent(frame.to_wire()))

    async def sweep_wrapups(self) -> None:
        node = self.node
        cutoff = node.now() - dt.timedelta(seconds=node.settings.wrapup_s)
        for staff_id in await node.conversations.release_wrapped_up(cutoff):
            await node.queue.release(staff_id, node.now_ms())
            self.wake.kick()
