"""What the crisis frames do: a counselor's flag, a waiting worker's screen, and the
supervisor's ack, watch, whisper, join, set_level and resolve."""

from __future__ import annotations

import uuid

from chat_queue.matching import Band
from chat_server import metrics
from chat_server.chat.connection import Connection, let_join, let_watch, may_access
from chat_server.chat.hub import conversation_channel, user_channel
from chat_server.chat.plugins import CommandHandler
from chat_server.chat.store import Conversation
from chat_server.crisis.escalation import Source, opens
from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.service import CrisisService
from chat_server.crisis.store import Escalation
from chat_server.wire import frames
from chat_server.wire.commands import (
    Ack,
    Flag,
    Join,
    Resolve,
    ScreenAnswers,
    SetLevel,
    Watch,
    Whisper,
)
from chat_server.wire.events import FrameEvent
from chat_server.wire.protocol import Command, ErrorCode, ProtocolError


class CrisisCommands:
    def __init__(self, service: CrisisService) -> None:
        self.service = service
        self.node = service.node
        self.store = service.store

    def handlers(self) -> dict[type[Command], CommandHandler]:
        return {
            Flag: self.flag, ScreenAnswers: self.screen, Ack: self.ack, Watch: self.watch,
            Whisper: self.whisper, Join: self.join, SetLevel: self.set_level,
            Resolve: self.resolve,
        }

    async def flag(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Flag)
        conv = await self.node.conversations.get(cmd.conversation_id)
        if conv is None or conv.counselor_id != conn.principal.id:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such conversation")
        if opens(cmd.level):
            sig = await self.service.escalate(conv, cmd.level, Source.FLAG, ("counselor_flag",),
                                      actor=conn.principal.id, note=cmd.reason,
                                      role="counselor")
            conn.push(frames.Flagged(conv.id, sig.escalation.id, sig.escalation.level.name,
                                     ref=cmd.ref))
            return
        await self.store.audit(conn.principal.id, "flag_watch", self.node.now(),
                               conversation_id=conv.id)
        if await self.store.raise_conversation_level(conv.id, cmd.level):
            await self.service.badge(conv, cmd.level)
        conn.push(frames.Flagged(conv.id, None, cmd.level.name, ref=cmd.ref))

    async def screen(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, ScreenAnswers)
        node = self.node
        p = conn.principal
        conv = await node.conversations.open_for_session(p.id, p.token_hash, p.devices)
        if conv is None or conv.status != "waiting" or not may_access(conn, conv):
            raise ProtocolError(ErrorCode.NOT_FOUND, "you are not waiting")
        s = cmd.screen
        if not await self.store.store_screen(conv.id, s.phq2_1, s.phq2_2, s.phq9_9, node.now()):
            raise ProtocolError(ErrorCode.CONFLICT, "already answered")
        # The worker's answer carries no score or level, whatever the answers were.
        conn.push(frames.Screened(conv.id, ref=cmd.ref))
        if s.self_harm:
            await node.queue.raise_band(conv.id, Band.CRISIS)
            await node.services.pool.execute(
                "UPDATE conversations SET band = 0 WHERE id = $1", uuid.UUID(conv.id))
            await self.service.escalate(conv, RiskLevel.high, Source.SCREEN, ("screen_phq9_item9",))
            await self.service.hotlines(conv)
            self.service.wake.kick()


    async def _escalation(self, escalation_id: str) -> Escalation:
        esc = await self.store.get(escalation_id)
        if esc is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such escalation")
        return esc

    async def ack(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Ack)
        await self._escalation(cmd.escalation_id)
        esc = await self.store.acknowledge(cmd.escalation_id, conn.principal.id,
                                           self.node.now())
        if esc is None:
            current = await self._escalation(cmd.escalation_id)
            raise ProtocolError(ErrorCode.CONFLICT, "already acknowledged or resolved",
                                owner=current.owner_name, status=str(current.status))
        metrics.ESCALATION_ACK_SECONDS.observe(
            max(0.0, (self.node.now() - esc.opened_at).total_seconds()))
        conn.push(frames.EscalationResult("ack", esc.view(), ref=cmd.ref))
        await self.service.announce(esc, badge=False)

    async def _conversation(self, conversation_id: str) -> Conversation:
        conv = await self.node.conversations.get(conversation_id)
        if conv is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such conversation")
        return conv

    async def watch(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Watch)
        conv = await self._conversation(cmd.conversation_id)
        esc = await self.store.open_for(conv.id)
        reason = cmd.reason.strip()
        if esc is None and not reason:
            raise ProtocolError(ErrorCode.FORBIDDEN,
                                "no open escalation: give a reason to watch this conversation",
                                field="reason")
        # Watching decrypts the transcript for a staff member: always audited, with why.
        await self.store.audit(conn.principal.id, "watch", self.node.now(),
                               conversation_id=conv.id,
                               escalation_id=esc.id if esc else None,
                               reason=reason or "open escalation")
        let_watch(conn, conv.id)
        await conn.follow(conv)
        conn.push(frames.Watching(conv.id, conv.last_seq, conv.status,
                                  esc.view() if esc else None, ref=cmd.ref))

    def _require_watching(self, conn: Connection, conversation_id: str) -> None:
        if conversation_id not in conn.watching:
            raise ProtocolError(ErrorCode.FORBIDDEN, "watch the conversation first")

    async def whisper(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Whisper)
        node = self.node
        self._require_watching(conn, cmd.conversation_id)
        conv = await self._conversation(cmd.conversation_id)
        if conv.counselor_id is None:
            raise ProtocolError(ErrorCode.CONVERSATION_CLOSED, "no counselor to whisper to")
        wrapped = await node.conversations.wrapped_key(conv.id)
        if wrapped is None:
            raise ProtocolError(ErrorCode.CONVERSATION_CLOSED, "the conversation was deleted")
        now = node.now()
        wid = await self.store.store_whisper(conv.id, conn.principal.id, conv.counselor_id,
                                             cmd.text, wrapped, now)
        await self.store.audit(conn.principal.id, "whisper", now, conversation_id=conv.id)
        frame = frames.Whisper(wid, conv.id,
                               {"id": conn.principal.id, "display_name": conn.principal.name},
                               cmd.text, now.isoformat())
        # The counselor's own channel, filtered to counselor sockets: never the worker's.
        await node.hub.publish(user_channel(conv.counselor_id),
                               FrameEvent(frame.to_wire(), roles=("counselor",)))
        conn.push(frames.Whispered(wid, conv.id, ref=cmd.ref))

    async def join(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Join)
        self._require_watching(conn, cmd.conversation_id)
        conv = await self._conversation(cmd.conversation_id)
        if conv.status != "active":
            raise ProtocolError(ErrorCode.CONVERSATION_CLOSED, "the conversation is not active")
        let_join(conn, conv.id)
        esc = await self.store.open_for(conv.id)
        await self.store.audit(conn.principal.id, "join", self.node.now(),
                               conversation_id=conv.id, escalation_id=esc.id if esc else None)
        joined = frames.SupervisorJoined(conv.id, conn.principal.name)
        await self.node.hub.publish(conversation_channel(conv.id), FrameEvent(joined.to_wire()))
        conn.push(frames.Joined(conv.id, ref=cmd.ref))

    async def set_level(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, SetLevel)
        node = self.node
        current = await self._escalation(cmd.escalation_id)
        wrapped = await node.conversations.wrapped_key(current.conversation_id)
        esc = await self.store.set_level(cmd.escalation_id, conn.principal.id, cmd.level,
                                         cmd.reason, wrapped, node.now())
        if esc is None:
            raise ProtocolError(ErrorCode.CONFLICT, "the escalation is resolved")
        conn.push(frames.EscalationResult("set_level", esc.view(), ref=cmd.ref))
        await self.service.announce(esc)
        if esc.level >= RiskLevel.imminent > current.level:
            conv = await self._conversation(esc.conversation_id)
            await self.service.hotlines(conv)

    async def resolve(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Resolve)
        node = self.node
        current = await self._escalation(cmd.escalation_id)
        note = cmd.note.strip() or None
        wrapped = await node.conversations.wrapped_key(current.conversation_id) if note else None
        esc = await self.store.resolve(cmd.escalation_id, conn.principal.id, cmd.outcome,
                                       note, wrapped, node.now())
        if esc is None:
            raise ProtocolError(ErrorCode.CONFLICT, "already resolved")
        conn.push(frames.EscalationResult("resolve", esc.view(), ref=cmd.ref))
        await self.service.announce(esc, badge=False)
