"""What a socket's frames do: one method per client frame, run in the frame's lane."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping

from chat_server import metrics
from chat_server.chat.connection import (
    Connection,
    conversation_for,
    may_access,
    message_event,
)
from chat_server.chat.core import ChatCore
from chat_server.chat.hub import conversation_channel
from chat_server.chat.plugins import Risk
from chat_server.chat.store import Appended, Conversation, NewMessage, NotActive, StoredMessage
from chat_server.chat.writer import OnStored
from chat_server.wire import codec as wire
from chat_server.wire import frames
from chat_server.wire.events import MessageEvent, Nudge, ReadEvent, TypingEvent
from chat_server.wire.protocol import (
    Capacity,
    CloseCode,
    Command,
    Duty,
    End,
    ErrorCode,
    FrameSpec,
    LeaveQueue,
    Ping,
    ProtocolError,
    Read,
    RequestChat,
    Role,
    Send,
    Sync,
    Typing,
)

log = logging.getLogger("yizhan.ws")

# Pauses between tries of a message's append whose outcome is unknown (a PostgreSQL
# restart takes a few seconds); after the last, the socket is closed and the client resends.
STORE_RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0)
# The pause a client is asked to make before resending a refused frame.
RETRY_AFTER_MS = 1000


async def store_surely(conn: Connection, message: NewMessage,
                       on_stored: OnStored | None = None) -> Appended | None:
    """Store a message, or find out that it was stored, before anything is answered.

    A failed commit may still have committed (the connection broke during COMMIT), so a
    failure is never answered `unavailable`: the append is repeated, which is idempotent
    on the client_id and so either stores it or finds the stored one. If the record stays
    out of reach, the socket is closed without an answer (1013): the client resends after
    reconnecting, with the same client_id, and learns the outcome then.
    """
    for delay in (*STORE_RETRY_S, None):
        if conn.close_code is not None:
            return None  # closing: a later send must not be stored after an unknown one
        try:
            return await conn.node.writer.append(message, on_stored)
        except NotActive:
            raise ProtocolError(ErrorCode.CONVERSATION_CLOSED,
                                "the conversation is not active") from None
        except Exception:
            # Whatever broke (a cut connection, a server restarting, asyncpg's
            # InternalClientError on a connection left mid-operation), the outcome is
            # unknown until the idempotent append succeeds.
            log.warning("message not stored yet; trying again", exc_info=True)
            if delay is not None:
                await asyncio.sleep(delay)
    conn.close(CloseCode.TRY_AGAIN_LATER)
    return None


def refuse_out_of_order(conn: Connection, command: Send) -> None:
    """Keep a sender's order: after a refused send, later ones wait for its resend."""
    refused = conn.refused.get(command.conversation_id)
    if refused is None:
        return
    if refused[0] == command.client_id:
        del conn.refused[command.conversation_id]
        return
    raise ProtocolError(refused[1], "an earlier send was refused; resend it first",
                        client_id=refused[0], retry_after=RETRY_AFTER_MS / 1000,
                        retry_after_ms=RETRY_AFTER_MS)


def name_first_refused(conn: Connection, command: Send, exc: ProtocolError) -> None:
    """Remember a retryable refusal and name, in its error, the first refused send of
    the conversation: the one to resend first (this one, unless an earlier one was)."""
    first = conn.refused.setdefault(command.conversation_id, (command.client_id, exc.code))
    exc.extra["client_id"] = first[0]


class Commands:
    def __init__(self, core: ChatCore, frames: Mapping[str, FrameSpec]) -> None:
        self.core = core
        # Every client frame this node parses: the core's and the features'.
        self.frames = frames
        self.plugins = core.plugins

    async def handle(self, conn: Connection, command: Command) -> None:
        node = conn.node
        match command:
            case Ping():
                conn.push(frames.Pong(node.now().isoformat(), ref=command.ref))
            case Send():
                await self.send(conn, command)
            case Sync():
                await self._sync(conn, command)
            case Typing():
                conv = await conversation_for(conn, command.conversation_id)
                await node.hub.publish(conversation_channel(conv.id),
                                       TypingEvent(conv.id, conn._side()))
            case Read():
                conv = await conversation_for(conn, command.conversation_id)
                await node.hub.publish(conversation_channel(conv.id),
                                       ReadEvent(conv.id, conn._side(), command.seq))
            case End():
                await self._end(conn, command)
            case RequestChat():
                await self._request_chat(conn, command)
            case LeaveQueue():
                await self._leave(conn, command)
            case Duty():
                await self._duty(conn, command)
            case Capacity():
                await self._capacity(conn, command)
            case _:
                extra = self.plugins.commands.get(type(command))
                if extra is None:
                    raise ProtocolError(ErrorCode.UNKNOWN_TYPE,
                                        "unknown frame type for your role")
                await extra(conn, command)

    async def _audit_read(self, conn: Connection, conv: Conversation, after_seq: int) -> None:
        p = conn.principal
        if conv.id in conn.watching:
            reason = "supervisor watching"
        elif conv.counselor_id == p.id:
            reason = "own conversation"
        else:
            reason = "participant"
        await self.core.people.audit_read(p.id, conv.id, reason, after_seq, conn.node.now())

    async def send(self, conn: Connection, command: Send) -> None:
        try:
            await self._send(conn, command)
        except ProtocolError as exc:
            if exc.code in (ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED):
                name_first_refused(conn, command, exc)
            raise

    async def _sync(self, conn: Connection, command: Sync) -> None:
        """The client's resume point: the feed serves from there, then goes on live."""
        conv = await conversation_for(conn, command.conversation_id)
        stream = conn.feed.streams.get(conv.id)
        if stream is None:
            # Held from the resume point while subscribing, so nothing live slips in first.
            conn.feed.follow(conv.id, command.after_seq, held=True)
            if conv.status == "active":
                conn.known.setdefault(conv.id, conv)
            await conn.listen(conversation_channel(conv.id))
            before = conv.last_seq
        else:
            before = stream.cursor
        if conn.principal.is_staff and command.after_seq < min(before, conv.last_seq):
            # Staff re-reading stored messages is a decryption of the transcript.
            await self._audit_read(conn, conv, command.after_seq)
        conn.run(conn.feed.sync(conv.id, command.after_seq, command.ref))

    async def _send(self, conn: Connection, command: Send) -> None:
        node = conn.node
        refuse_out_of_order(conn, command)
        # After the first send, authorization is remembered for this socket; the store
        # re-checks status and participant inside its transaction, so a conversation that
        # ended or changed hands meanwhile still refuses the message.
        conv = conn.known.get(command.conversation_id)
        if conv is None:
            conv = await conversation_for(conn, command.conversation_id)
            if conv.status != "active":
                raise ProtocolError(ErrorCode.CONVERSATION_CLOSED,
                                    "the conversation is not active")
            conn.known[conv.id] = conv
        if conn.role is Role.SUPERVISOR and conv.id not in conn.joined:
            raise ProtocolError(ErrorCode.FORBIDDEN, "watching is read-only; join to write")
        side = conn._side()
        started = time.perf_counter()
        p = conn.principal
        assessment = None
        if p.role is Role.WORKER and self.plugins.assessor is not None:
            assessment = self.plugins.assessor(command.text)
        message = NewMessage(
            conv.id, side, command.client_id, command.text,
            staff_id=p.id if p.is_staff else None,
            worker_id=p.id if p.role is Role.WORKER else None,
            risk=(int(assessment.level), tuple(assessment.reasons))
            if assessment is not None else None,
        )
        observe = self._observe(conv, command.text, assessment) \
            if p.role is Role.WORKER and self.plugins.message_observers else None
        result = await store_surely(conn, message, observe)
        if result is None:
            return  # the socket is closing; the client resends with the same client_id
        metrics.messages_stored(side).inc()
        at = result.at.isoformat()
        conn.push(frames.Ack(conv.id, command.client_id, result.seq, at, result.duplicate,
                             ref=command.ref))
        metrics.ACK_SECONDS.observe(time.perf_counter() - started)
        event: MessageEvent | Nudge
        if result.sealed is not None and result.wrapped is not None:
            event = message_event(conv.id, result.seq, side, command.client_id, "text",
                                  at, result.sealed, result.wrapped)
            # This node's sockets get the text as sent: nothing to decrypt for them.
            msg = StoredMessage(conversation_id=conv.id, seq=result.seq, sender_role=side,
                                client_id=command.client_id, kind="text", text=command.text,
                                at=result.at)
            event.opened = (msg, wire.dumps(msg.frame()))
        else:
            # A resend: the first attempt may have died before fanning out. A nudge is enough.
            event = Nudge(conv.id, result.seq)
        # Stored and acknowledged already: if this publish is lost, receivers catch up from
        # PostgreSQL when the hub reconnects (or on their next sync). Not the sender's error.
        node.hub.publish_soon(conversation_channel(conv.id), event)
        metrics.STORE_SECONDS.observe(time.perf_counter() - started)

    def _observe(self, conv: Conversation, text: str,
                 assessment: Risk | None) -> OnStored:
        """What follows a worker's stored message, run by the writer right after the commit:
        observers only queue (the crisis stage's own task assesses), so the crisis path never
        holds up this conversation's next frame, and a socket closing while its message is
        being committed (a phone losing its signal) cannot cancel the assessment of it."""
        def observe(stored: Appended) -> None:
            if stored.duplicate:
                return  # observed when it was first stored
            for observer in self.plugins.message_observers:
                try:
                    observer.worker_message(conv, stored, text, assessment)
                except Exception:
                    log.exception("message observer failed")
        return observe

    async def _end(self, conn: Connection, command: End) -> None:
        # As with send, a conversation this socket follows needs no lookup: a freed seat is
        # what the next waiting worker is matched to. A counselor's end is re-checked in the
        # statement itself, in case the conversation changed hands meanwhile.
        conv = conn.known.get(command.conversation_id)
        remembered = conv is not None
        if conv is None:
            conv = await conversation_for(conn, command.conversation_id)
        if conn.role is Role.SUPERVISOR and conv.id not in conn.joined:
            raise ProtocolError(ErrorCode.FORBIDDEN, "watching is read-only; join to end")
        side = conn._side()
        # This socket's answer is its own `ended`, with the ref; the copy every socket of
        # the conversation is sent is not delivered here as well (Connection.on_event).
        conn.ending.add(conv.id)
        try:
            ended = await self.core.ending.end(
                conv.id, side,
                counselor_id=conn.principal.id if conn.role is Role.COUNSELOR else None)
        except BaseException:
            conn.ending.discard(conv.id)
            raise
        if ended is not None:
            conn.push(dataclasses.replace(ended, ref=command.ref))
            return
        conn.ending.discard(conv.id)
        if remembered:
            # Closed or handed over since it was remembered: answer from the record.
            conn.known.pop(conv.id, None)
            await conversation_for(conn, conv.id)
        conn.push(frames.Ended(conv.id, None, ref=command.ref))


    async def _request_chat(self, conn: Connection, command: RequestChat) -> None:
        frame = await self.core.intake.request_chat(conn, replace=command.replace)
        conn.push(dataclasses.replace(frame, ref=command.ref))


    async def _leave(self, conn: Connection, command: LeaveQueue) -> None:
        node = conn.node
        p = conn.principal
        conv = await node.conversations.open_for_session(p.id, p.token_hash, p.devices)
        if conv is None or conv.status != "waiting" or not may_access(conn, conv):
            raise ProtocolError(ErrorCode.NOT_FOUND, "you are not waiting")
        await self.core.ending.leave(conv)
        conn.push(frames.Left(conv.id, ref=command.ref))


    async def _duty(self, conn: Connection, command: Duty) -> None:
        frame = await self.core.duty.set_duty(conn, command.on)
        conn.push(dataclasses.replace(frame, ref=command.ref))


    async def _capacity(self, conn: Connection, command: Capacity) -> None:
        frame = await self.core.duty.set_capacity(conn, command.capacity)
        conn.push(dataclasses.replace(frame, ref=command.ref))
