"""Turns Redis matches into PostgreSQL records and tells both sides.

Every node runs the same loop. The Lua matcher makes matches atomic across nodes; the
PostgreSQL updates are conditional (`WHERE status = 'waiting'`), so two nodes sweeping at
once cannot both act on one conversation.
"""

from __future__ import annotations

import asyncio
import logging

from chat_queue.store import MatchResult
from chat_server import metrics
from chat_server.chat.ending import Ending
from chat_server.chat.hub import device_channel, session_channel, user_channel
from chat_server.chat.node import Node
from chat_server.chat.people_store import PeopleStore
from chat_server.chat.risk_view_store import RiskView, RiskViewStore
from chat_server.chat.store import Conversation
from chat_server.chat.views import staff_view_of
from chat_server.chat.wake import Wake
from chat_server.wire import frames
from chat_server.wire.events import Follow

log = logging.getLogger("yizhan.dispatch")

TICK_S = 1.0


class Matcher:
    def __init__(self, node: Node, wake: Wake, ending: Ending, people: PeopleStore,
                 risks: RiskViewStore) -> None:
        self.node = node
        self.wake = wake
        self.ending = ending
        self.people = people
        # The true risk and the screen go with the assignment (issue 18, item 6).
        self.risks = risks
        # One pass at a time on this node (the loop, a test, a booked chat's sweep).
        self._match_lock = asyncio.Lock()

    async def run(self) -> None:
        """Matching runs on its own: a freed seat or a new worker is matched at once,
        never behind the periodic work (position pushes grow with the queue)."""
        while True:
            await self.wake.wait(TICK_S)
            self.wake.not_matching.clear()
            try:
                await self.match()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("matching failed")
            finally:
                self.wake.not_matching.set()

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
                    self.record_match(m.conversation_id, m.staff_id)))

            try:
                batch = await node.queue.match_all(
                    node.now_ms(), on_match=record,
                    grace_ms=node.settings.worker_grace_s * 1000,
                    keep_ms=node.settings.worker_keep_s * 1000)
                for conv_id in batch.abandoned:
                    await self.ending.end(conv_id, "timeout", recorded_as="worker_gone")
            finally:
                outcomes = await asyncio.gather(*recording, return_exceptions=True)
                for outcome in outcomes:
                    if isinstance(outcome, Exception):
                        # Its claim expires and the reconciler re-queues the worker.
                        log.error("match not recorded", exc_info=outcome)

    async def record_match(self, conversation_id: str, staff_id: str) -> None:
        """Record a match claimed in Redis (by the loop, or a booked chat), tell both sides."""
        node = self.node
        named = await node.conversations.activate_named(conversation_id, staff_id)
        if named is None:
            await node.queue.unclaim(conversation_id, staff_id, node.now_ms())
            await node.queue.leave(conversation_id)
            return
        conv, counselor, alias = named
        metrics.MATCHES.inc()
        # The risk view the counselor is told (a PostgreSQL read) is read meanwhile; the
        # worker is not kept waiting for it (announce_match).
        risk = asyncio.ensure_future(self.risks.risk_view(conv.id))
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
            self.people.audit(staff_id, "handover_assign", node.now(), conversation_id,
                              "previous counselor connection lost") if handover
            else node.queue.record_wait(waited),
            self.announce_match(conv, staff_id, counselor, alias, handover, risk))

    async def announce_match(self, conv: Conversation, staff_id: str, counselor: str,
                             alias: str, handover: bool,
                             risk: asyncio.Future[RiskView]) -> None:
        """Tell the worker, then the counselor once the risk view is read: `matched` never
        waits on a PostgreSQL read (the hand-off time is the worker's wait). Each side
        follows from the announced last_seq, so neither misses a message between them."""
        # The worker side: the sockets of sessions that may read it (may_read), never
        # every socket of the worker: those holding the device that opened it, and the
        # session that opened it (the only way in for conversations from before devices).
        worker = (device_channel(conv.opened_by_device) if conv.opened_by_device
                  else session_channel(conv.opened_by_session or b""))
        matched = frames.Matched(conv.id, counselor, conv.last_seq)
        await self.node.hub.publish(worker, Follow(conv.id, matched.to_wire()))
        assigned = frames.Assigned(staff_view_of(conv, alias, await risk, handover))
        await self.node.hub.publish(user_channel(staff_id), Follow(conv.id, assigned.to_wire()))
