"""The crisis path on a node: assess worker messages, escalate, alert.

Rules live in escalation.py / referrals.py; PostgreSQL in store.py; the sweeper of
deadlines in sweeper.py; supervisor and counselor frames in commands.py; HTTP in
routes.py. A worker is never sent a level, a reason or a whisper.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from chat_server import metrics
from chat_server.chat.connection import Connection
from chat_server.chat.hub import conversation_channel, role_channel, user_channel
from chat_server.chat.node import Node
from chat_server.chat.plugins import Risk
from chat_server.chat.store import Appended, Conversation
from chat_server.chat.wake import Wake
from chat_server.crisis.conversation_risk import combine
from chat_server.crisis.escalation import Deadlines, Source, audience, opens
from chat_server.crisis.hotlines import HOTLINES
from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.referrals import seed_resources
from chat_server.crisis.rule_engine import RulePass
from chat_server.crisis.rule_file import default_rules
from chat_server.crisis.stage import AssessmentStage, Pending
from chat_server.crisis.store import Escalation, EscalationStore, Signal
from chat_server.wire import frames
from chat_server.wire.events import FrameEvent, NodeEvent
from chat_server.wire.protocol import Role

log = logging.getLogger("yizhan.crisis")

# Who is on the roster as supervisor now (roster/store.py, passed in by wiring).
RosteredSupervisors = Callable[[dt.datetime], Awaitable[list[str]]]


def escalation_status(esc: Escalation) -> frames.EscalationStatus:
    """The counselor's copy of an escalation change: no owner, no alert routing."""
    return frames.EscalationStatus(esc.conversation_id, esc.id, str(esc.status),
                                   esc.level.name, list(esc.reasons),
                                   esc.realerted_at is not None)


class CrisisService:
    def __init__(self, node: Node, wake: Wake,
                 rostered_supervisors: RosteredSupervisors) -> None:
        self.node = node
        # Woken after a screen raises a waiting worker's band (matched sooner).
        self.wake = wake
        self.rostered_supervisors = rostered_supervisors
        s = node.settings
        self.store = EscalationStore(node.services.pool, node.vault,
                                     Deadlines(s.ack_deadline_s, s.ack_deadline_imminent_s))
        # The learned stage, after the acknowledgement (issue 18, item 5).
        self.stage = AssessmentStage(self.assessed)
        # Read and compile the rules now: compiling them on the first worker message
        # stopped the event loop for tens of milliseconds, in front of everyone. The
        # weights are read in the assessor's child process only (stage.start()).
        default_rules()

    async def start(self) -> None:
        await self.store.seed_resources(seed_resources(), self.node.now())
        await self.stage.start()

    async def stop(self) -> None:
        await self.stage.stop()


    # ---- alerts -----------------------------------------------------------------------

    async def supervisors_connected(self) -> bool:
        """Any supervisor socket on any node: a node subscribes the supervisor channel
        while it holds one, so Redis's subscriber count answers across nodes."""
        counts = await self.node.services.redis.pubsub_numsub(role_channel("supervisor"))
        return any(int(n) > 0 for _, n in counts)

    async def announce(self, esc: Escalation, *, opened: bool = False, realert: bool = False,
                       badge: bool = True) -> None:
        """Tell staff about an escalation change; the worker hears nothing of it."""
        hub = self.node.hub
        present = await self.supervisors_connected()
        who = audience(present, realert)
        # A new escalation rings first for the supervisor of the hour (if rostered and
        # connected); every board still lists it. A missed deadline rings for everyone.
        alert_to = None if realert or not opened else await self.supervisors_of_the_hour()
        frame = frames.Escalation(esc.view(), opened, realert, who.no_supervisor,
                                  alert_to).to_wire()
        items: list[tuple[str, NodeEvent]] = [
            (role_channel(role), FrameEvent(frame, roles=(role,))) for role in who.roles
        ]
        if esc.counselor_id:
            # The holder of the conversation, and only it, hears every change of its own
            # escalation: the console's banner follows the acknowledgement (issue 18, item 6).
            items.append((user_channel(esc.counselor_id),
                          FrameEvent(escalation_status(esc).to_wire(), roles=("counselor",))))
            if badge:
                risk = frames.Risk(esc.conversation_id, esc.level.name)
                items.append((user_channel(esc.counselor_id), FrameEvent(risk.to_wire())))
            if who.no_supervisor and (opened or realert):
                alone = frames.NoSupervisor(esc.conversation_id, esc.id)
                items.append((user_channel(esc.counselor_id), FrameEvent(alone.to_wire())))
        await hub.publish_many(items)

    async def supervisors_of_the_hour(self) -> list[str] | None:
        """Rostered supervisors now on a socket; None (everyone) if there are none."""
        node = self.node
        ids = await self.rostered_supervisors(node.now())
        if not ids:
            return None
        counts = await node.services.redis.pubsub_numsub(*(user_channel(i) for i in ids))
        connected = [i for i, (_, n) in zip(ids, counts, strict=True) if int(n) > 0]
        return connected or None

    async def badge(self, conv: Conversation, level: RiskLevel) -> None:
        if conv.counselor_id:
            risk = frames.Risk(conv.id, level.name)
            await self.node.hub.publish(user_channel(conv.counselor_id),
                                        FrameEvent(risk.to_wire()))

    async def hotlines(self, conv: Conversation) -> None:
        # To the sockets following this conversation (sessions that may read it), not to
        # every socket of the worker: that a chat raised an alarm is its content too.
        await self.node.hub.publish(conversation_channel(conv.id), FrameEvent(
            frames.Hotlines(HOTLINES).to_wire(), roles=("worker",)))

    async def escalate(self, conv: Conversation, level: RiskLevel, source: Source,
                       rule_ids: tuple[str, ...], *, actor: str | None = None,
                       note: str | None = None, role: str = "system") -> Signal:
        node = self.node
        wrapped = await node.conversations.wrapped_key(conv.id) if note else None
        sig = await self.store.signal(conv.id, level, source, rule_ids, node.now(),
                                      actor=actor, note=note, wrapped=wrapped, role=role)
        await self.store.raise_conversation_level(conv.id, sig.escalation.level)
        if sig.opened or sig.raised:
            await self.announce(sig.escalation, opened=sig.opened)
            if sig.escalation.level >= RiskLevel.imminent:
                # Safety first: the worker sees the 24-hour lines at once.
                await self.hotlines(conv)
            log.warning("escalation", extra={"fields": {
                "escalation_id": sig.escalation.id, "level": sig.escalation.level.name,
                "opened": sig.opened, "source": str(source)}})
        return sig

    # ---- the message hook ------------------------------------------------------------

    def worker_message(self, conv: Conversation, appended: Appended, text: str,
                       risk: Risk | None) -> None:
        # Stored (with the rules' level, pending) and acknowledged already: the learned
        # stage reads it in its own task and calls `assessed`. Only queued here, with the
        # rules' pass the send path made (our assessor's), so the stage need not repeat it.
        ruled = risk if isinstance(risk, RulePass) else None
        self.stage.submit(conv.id, appended.seq, text, ruled=ruled)
        metrics.ASSESSMENT_BACKLOG.set(self.stage.backlog)

    async def assessed(self, batch: list[tuple[Pending, Assessment]]) -> None:
        """Record a batch's levels, then escalate or badge what needs it (event loop)."""
        settled = await self.store.settle_levels(
            [(p.conversation_id, p.seq, a.level, a.reasons) for p, a in batch])
        stored = {(str(r["conversation_id"]), r["seq"]): r for r in settled}
        for p, a in batch:
            row = stored.get((p.conversation_id, p.seq))
            if row is not None:
                try:
                    await self.act(p.conversation_id, p.seq, RiskLevel(row["level"]), a.reasons)
                except Exception:
                    # A high row stays unhandled: the sweeper opens its escalation.
                    log.exception("acting on an assessment failed")
            metrics.ASSESSMENT_SECONDS.observe(time.monotonic() - p.since)
        metrics.ASSESSMENT_BACKLOG.set(self.stage.backlog)

    async def act(self, conversation_id: str, seq: int, level: RiskLevel,
                  reasons: tuple[str, ...]) -> None:
        conv = await self.node.conversations.get(conversation_id)
        if conv is None:
            return
        new = level
        # The context rule only ever raises a message that is itself at least watch.
        level = combine(await self.store.recent_levels(conv.id, seq), level)
        reasons = reasons + (("context_rule",) if level > new else ())
        if opens(level):
            await self.escalate(conv, level, Source.MESSAGE, reasons)
            await self.store.mark_risk_handled(conv.id, seq, self.node.now())
        elif await self.store.raise_conversation_level(conv.id, level):
            # The sender's socket may hold an older copy (a hand-over changes the counselor).
            await self.badge(conv, level)

    # ---- welcome: a supervisor's board starts with what is open ----------------------

    async def welcome_extra(self, conn: Connection) -> dict[str, Any]:
        if conn.role is not Role.SUPERVISOR:
            return {}
        open_ = await self.store.list(("open", "acknowledged"))
        return {"escalations": [e.view() for e in open_]}
