"""The crisis path's deadlines, once a second on every node: late assessments, unopened
escalations, unacknowledged ones (realerted)."""

from __future__ import annotations

import asyncio
import logging

from chat_server import metrics
from chat_server.crisis.escalation import Source
from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.service import CrisisService
from chat_server.periodic import cancel, every

log = logging.getLogger("yizhan.crisis")

SWEEP_S = 1.0
# A high-risk message the live path did not escalate within this long is recovered.
RECOVER_AFTER_S = 3
# A worker message no learned stage settled within this long is read back and assessed
# (its node died after the ack). Longer than RECOVER_AFTER_S: a live stage that is behind
# under a burst should not be raced by every node's sweeper.
RECOVER_PENDING_AFTER_S = 10


class CrisisSweeper:
    def __init__(self, service: CrisisService) -> None:
        self.service = service
        self.node = service.node
        self.store = service.store
        self.stage = service.stage
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(every(SWEEP_S, self.sweep, "escalation sweep"),
                                         name="escalation-sweeper")

    async def stop(self) -> None:
        await cancel(self._task)



    async def sweep(self) -> None:
        await self.recover_unassessed()
        await self.recover_unhandled()
        for esc in await self.store.overdue(self.node.now()):
            metrics.ESCALATION_BREACHES.inc()
            log.error("escalation not acknowledged in time", extra={"fields": {
                "escalation_id": esc.id, "level": esc.level.name}})
            await self.service.announce(esc, realert=True, badge=False)

    async def recover_unassessed(self) -> None:
        """Hand the stage again the pending rows that no stage settled in time (a node died
        between the ack and the assessment): the message is read back from the record.
        Rows this node's stage still holds are left to it: re-reading them under a burst
        only added load to a stage that was behind."""
        rows = await self.store.lease_pending(RECOVER_PENDING_AFTER_S, self.node.now())
        taken = 0
        for row in rows:
            cid, seq = str(row["conversation_id"]), row["seq"]
            if (cid, seq) in self.stage.held:
                continue
            earlier = await self.node.conversations.messages_after(cid, max(0, seq - 8), 8)
            texts = [m for m in earlier if m.sender_role == "worker" and m.kind == "text"]
            mine = [m.text for m in texts if m.seq == seq]
            if not mine:
                continue  # shredded or not a text: nothing to read
            self.stage.submit(cid, seq, mine[0],
                              context=[m.text for m in texts if m.seq < seq])
            taken += 1
        if taken:
            log.error("messages assessed late, by the sweeper", extra={"fields": {
                "count": taken}})

    async def recover_unhandled(self) -> None:
        """Open the escalations that a failure between storing a high-risk message and
        alerting left unopened: the risk row was stored with the message, so it is not
        lost. Each row is claimed by one node before it acts."""
        for row in await self.store.claim_unhandled_risk(RECOVER_AFTER_S, self.node.now()):
            conv = await self.node.conversations.get(str(row["conversation_id"]))
            if conv is None or conv.status not in ("active", "waiting"):
                continue
            try:
                await self.service.escalate(conv, RiskLevel(row["level"]), Source.MESSAGE,
                                    (*row["rule_ids"], "recovered"))
            except Exception:
                await self.store.unclaim_risk(str(row["conversation_id"]), row["seq"])
                raise
            log.error("escalation opened late, by the sweeper", extra={"fields": {
                "conversation_id": str(row["conversation_id"]), "seq": row["seq"]}})
