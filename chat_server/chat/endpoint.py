"""The WebSocket endpoints: a thin pump between a socket, the protocol core and the stores."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import time
import uuid
from datetime import datetime
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope
from starlette.types import Send as AsgiSend
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from chat_server import metrics
from chat_server.access import SOCKETS
from chat_server.accounts.sessions import STAFF_COOKIE, WORKER_COOKIE, Principal
from chat_server.chat.hub import (
    conversation_channel,
    device_channel,
    role_channel,
    session_channel,
    user_channel,
)
from chat_server.chat.node import Node
from chat_server.chat.outbox import Frame, Outbox, OutboxFull
from chat_server.chat.store import (
    Appended,
    Conversation,
    NewMessage,
    NotActive,
    StoredMessage,
    may_read,
)
from chat_server.vault import open_text
from chat_server.wire import codec as wire
from chat_server.wire.feed import Action, Emit, Feed, Stream
from chat_server.wire.protocol import (
    FLOOD_STRIKES,
    Capacity,
    CloseCode,
    Command,
    Duty,
    End,
    ErrorCode,
    LeaveQueue,
    Limits,
    Ping,
    ProtocolError,
    Read,
    RequestChat,
    Role,
    Send,
    Sync,
    TokenBucket,
    Typing,
    decode,
    parse,
    read_ref,
)
from crypto.envelope import Sealed
from crypto.keyring import WrappedKey

log = logging.getLogger("yizhan.ws")

# Frames queued for one socket before it is judged too slow and closed (it resyncs).
OUTBOX_LIMIT = 2000
# Stored messages read per round trip when a socket catches up.
CATCH_UP_PAGE = 200
# Frames one socket may have in progress at once; past it the socket is read no further.
MAX_IN_FLIGHT = 64
# Pauses between tries of a message's append whose outcome is unknown (a PostgreSQL
# restart takes a few seconds); after the last, the socket is closed and the client resends.
STORE_RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0)
# The pause a client is asked to make before resending a refused frame.
RETRY_AFTER_MS = 1000
# Pauses between tries of a catch-up read before the socket is closed (it resumes).
READ_RETRY_S = (0.2, 0.5, 1.0, 2.0)
# Where a pub/sub message event keeps its opened form for the node's other sockets.
OPENED = "_opened"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def message_event(conv_id: str, seq: int, role: str, client_id: str, kind: str,
                  at: str, sealed: Sealed, wrapped: WrappedKey) -> dict[str, Any]:
    """The pub/sub form of a stored message: ciphertext only, so Redis never sees text."""
    return {
        "t": "msg", "c": conv_id, "seq": seq, "from": role, "client_id": client_id,
        "kind": kind, "at": at, "n": b64(sealed.nonce), "ct": b64(sealed.ciphertext),
        "kv": wrapped.kek_version, "wk": b64(wrapped.wrapped),
    }


class Connection:
    """One client socket: its principal, the conversations it follows, its outbox."""

    def __init__(self, ws: WebSocket, send: AsgiSend, principal: Principal, node: Node) -> None:
        self.ws = ws
        # The server's own ASGI send, for frames (see SocketEndpoint).
        self._send = send
        self.principal = principal
        self.node = node
        # Frames to write, in order (a str is a frame already encoded); one writer drains it.
        self.outbox = Outbox(OUTBOX_LIMIT)
        # Frames pushed before the welcome, sent right after it; None once it is out.
        self.early: list[Frame] | None = []
        # What of each followed conversation this socket was sent, and what it still needs.
        self.feed = Feed(CATCH_UP_PAGE)
        self.channels: set[str] = set()
        self.bucket = TokenBucket(node.settings.messages_per_minute)
        self.limits = Limits(max_text_chars=node.settings.max_text_chars)
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.on_duty = False
        self.tasks: set[asyncio.Task[Any]] = set()
        # Conversations this socket may write to, checked once (see handle_send).
        self.known: dict[str, Conversation] = {}
        # Frames of one conversation are handled in order; different ones concurrently.
        self.lanes: dict[str, asyncio.Lock] = {}
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        # The task reading frames, and whether the node is draining this socket (then no
        # new frame is read; those in flight are answered before the close).
        self.reader: asyncio.Task[None] | None = None
        self.draining = False
        # Per conversation: a send refused as retryable (client_id, code); later sends
        # wait for its resend so the sender's order is the stored order.
        self.refused: dict[str, tuple[str, ErrorCode]] = {}
        # Supervisors watching conversations read-only (crisis feature).
        self.watching: set[str] = set()
        # Of those, the ones a supervisor joined and may send into (watching is read-only).
        self.joined: set[str] = set()

    @property
    def role(self) -> Role:
        return self.principal.role

    # ---- output ---------------------------------------------------------------------

    def push(self, frame: Frame) -> None:
        if self.early is not None:
            self.early.append(frame)  # the welcome goes first (see welcome)
            return
        try:
            self.outbox.put(frame)
        except OutboxFull:
            log.warning("socket too slow; closing", extra={"fields": {"role": str(self.role)}})
            self.close(CloseCode.GOING_AWAY)

    def welcome(self, frame: dict[str, Any]) -> None:
        """Send the welcome, then what was pushed while it was made (the feed holds the
        conversations' messages itself; these are other frames: duty, queue figures)."""
        early, self.early = self.early or [], None
        self.push(frame)
        for queued in early:
            self.push(queued)
        self.run(self.feed.welcome())

    def close(self, code: int) -> None:
        """Close after the frames already queued are written."""
        if self.close_code is None:
            self.close_code = code
        self.outbox.close()

    async def writer(self) -> None:
        send = self._send
        try:
            while (frames := await self.outbox.take()) is not None:
                for frame in frames:
                    await send({"type": "websocket.send",
                                "text": frame if isinstance(frame, str) else wire.dumps(frame)})
        except (OSError, WebSocketDisconnect):
            pass  # the peer is gone (uvicorn's ClientDisconnected is an OSError)
        except Exception as exc:
            # Anything else is a frame that cannot be sent; the socket is closed below.
            # Said by the error's type only: a frame's contents must never reach a log.
            log.warning("socket writer failed; closing",
                        extra={"fields": {"error": type(exc).__name__}})
        finally:
            self.closed.set()
            if self.ws.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await self.ws.close(self.close_code or 1000)

    async def drain(self, code: int, timeout_s: float) -> None:
        """Stop reading, let the frames in flight finish, then close with `code`."""
        self.draining = True
        if self.reader is not None:
            self.reader.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                # Every permit back means no frame is being handled any more.
                for _ in range(MAX_IN_FLIGHT):
                    await self.in_flight.acquire()
        self.close(code)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.closed.wait()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- following conversations ----------------------------------------------------

    async def listen(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.add(channel)
            await self.node.hub.listen(channel, self.on_event)

    async def unlisten(self, channel: str) -> None:
        if channel in self.channels:
            self.channels.discard(channel)
            await self.node.hub.unlisten(channel, self.on_event)

    @property
    def cursors(self) -> dict[str, Stream]:
        """The conversations this socket follows (dispatch reads them as a set)."""
        return self.feed.streams

    def run(self, actions: list[Action]) -> None:
        """Carry out what the feed decided: frames in order, reads in the background."""
        for action in actions:
            if isinstance(action, Emit):
                self.push(action.frame)
            else:
                self.spawn(self._read(action.conversation_id, action.after_seq))

    async def follow(self, conv: Conversation, from_seq: int | None = None) -> None:
        """Start receiving a conversation's live events.

        A conversation followed before the welcome is active is held until the client's
        `sync` names where it stands; one followed later starts at `from_seq` (what its
        announcement said), else at its last seq as read.
        """
        held = not self.feed.welcomed and conv.status == "active"
        start = conv.last_seq if from_seq is None else min(from_seq, conv.last_seq)
        actions = self.feed.follow(conv.id, start, held=held)
        if conv.status == "active" and may_access(self, conv):
            # Its first send then needs no lookup (see handle_send): at a shift's start
            # every side's first message arrives at once.
            self.known.setdefault(conv.id, conv)
        await self.listen(conversation_channel(conv.id))
        # Only now that the channel is heard: the read covers what was stored before.
        self.run(actions)

    async def unfollow(self, conversation_id: str) -> None:
        self.feed.unfollow(conversation_id)
        self.known.pop(conversation_id, None)
        await self.unlisten(conversation_channel(conversation_id))

    def deliver(self, msg: StoredMessage, encoded: str | None = None) -> None:
        self.run(self.feed.live(msg.conversation_id, msg.seq,
                                encoded if encoded is not None else msg.frame()))

    async def _read(self, conversation_id: str, after_seq: int) -> None:
        """One page of stored messages for the feed; retried, then the socket gives up."""
        # A long history goes out a page at a time, as the socket drains, so a slow phone
        # is not mistaken for a dead one. (Polled: a queue has no "fell below N" event.)
        while len(self.outbox) > OUTBOX_LIMIT // 2 and not self.closed.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for delay in READ_RETRY_S:
            try:
                messages = await self.node.conversations.messages_after(
                    conversation_id, after_seq, limit=CATCH_UP_PAGE)
            except Exception:
                log.warning("catch-up read failed; retrying", exc_info=True)
                await asyncio.sleep(delay)
                continue
            self.run(self.feed.page(conversation_id, after_seq,
                                    [(m.seq, m.frame()) for m in messages]))
            return
        # Still unreadable: the client resumes elsewhere (or here, later) from what it has.
        self.feed.failed(conversation_id)
        self.close(CloseCode.TRY_AGAIN_LATER)

    def resync_all(self) -> None:
        self.run(self.feed.lost())

    # ---- events from the hub --------------------------------------------------------

    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        kind = event.get("t")
        conv_id = event.get("c")
        if kind == "msg":
            self._on_message(event)
        elif kind == "nudge":
            self.run(self.feed.nudge(conv_id or "", event["seq"]))
        elif kind in ("typing", "read"):
            if event.get("from") != self._side() and conv_id in self.cursors:
                frame = {"type": kind, "conversation_id": conv_id, "from": event["from"]}
                if kind == "read":
                    frame["seq"] = event["seq"]
                self.push(frame)
        elif kind == "frame":
            roles = event.get("roles")
            if roles is None or str(self.role) in roles:
                frame = event["frame"]
                if frame.get("type") == "queued":
                    # Handed back to the queue: no longer active (and, once more, a
                    # conversation this node tells its place in the queue).
                    self.known.pop(frame.get("conversation_id", ""), None)
                self.push(frame)
        elif kind == "revoked":
            # A whole account (disabled), or one session (signed out) if `h` is given.
            if event.get("h") in (None, self.principal.token_hash.hex()):
                self.close(CloseCode.UNAUTHENTICATED)
        elif kind == "follow":
            self.spawn(self.follow_by_id(event["c"], event.get("frame")))
        elif kind == "unfollow":
            self.spawn(self._unfollow_with(event["c"], event.get("frame")))
        elif kind == "duty":
            self.on_duty = bool(event["frame"]["on"])
            self.push(event["frame"])

    def _side(self) -> str:
        return "worker" if self.role is Role.WORKER else str(self.role)

    def _on_message(self, event: dict[str, Any]) -> None:
        conv_id = event["c"]
        if conv_id not in self.cursors:
            return
        # Every socket of this node that follows the conversation is handed the same
        # event: the first one opens and encodes it, the others reuse that.
        opened: tuple[StoredMessage, str] | None = event.get(OPENED)
        if opened is None:
            wrapped = WrappedKey(event["kv"], unb64(event["wk"]))
            text = open_text(
                self.node.vault, wrapped, conv_id, event["seq"], event["from"],
                unb64(event["n"]), unb64(event["ct"]),
            )
            msg = StoredMessage(
                conversation_id=conv_id, seq=event["seq"], sender_role=event["from"],
                client_id=event["client_id"], kind=event["kind"], text=text,
                at=datetime.fromisoformat(event["at"]),
            )
            opened = event[OPENED] = (msg, wire.dumps(msg.frame()))
        self.deliver(*opened)

    async def follow_by_id(self, conversation_id: str, frame: dict[str, Any] | None) -> None:
        """A match: tell the client at once, then start following the conversation.

        The frame goes first so that `matched` does not wait on a read and a subscribe.
        Anything stored before the subscription took effect is caught up afterwards, so
        a first message sent the instant after the match is not missed.
        """
        if frame:
            self.push(frame)
        conv = await self.node.conversations.get(conversation_id)
        if conv is None or (self.role is Role.WORKER and not may_read(self.principal, conv)):
            # (Matches reach only the sockets of sessions that may read them: see
            # Dispatcher._announce_match. Checked again here, against the record.)
            return
        # From where the announcement stood: a message stored between the match and
        # this read is then served too, not skipped as already known.
        announced = (frame or {}).get("conversation", frame or {}).get("last_seq")
        await self.follow(conv, announced if isinstance(announced, int) else None)

    async def _unfollow_with(self, conversation_id: str, frame: dict[str, Any] | None) -> None:
        if frame:
            self.push(frame)
        await self.unfollow(conversation_id)


# ---- authorization --------------------------------------------------------------------


async def conversation_for(conn: Connection, conversation_id: str) -> Conversation:
    """The conversation if this principal takes part in it; not_found otherwise."""
    conv = await conn.node.conversations.get(conversation_id)
    if conv is None or not may_access(conn, conv):
        raise ProtocolError(ErrorCode.NOT_FOUND, "no such conversation")
    return conv


def may_access(conn: Connection, conv: Conversation) -> bool:
    p = conn.principal
    if p.role is Role.WORKER:
        return may_read(p, conv)
    if p.role is Role.COUNSELOR:
        return conv.counselor_id == p.id
    # Supervisors reach conversations through the crisis feature (watch/join), audited.
    return conv.id in conn.watching


# ---- handlers ---------------------------------------------------------------------------


async def handle(conn: Connection, command: Command) -> None:
    node = conn.node
    match command:
        case Ping():
            conn.push({"type": "pong", "at": node.now().isoformat(), **_ref(command)})
        case Send():
            await handle_send(conn, command)
        case Sync():
            await handle_sync(conn, command)
        case Typing():
            conv = await conversation_for(conn, command.conversation_id)
            await node.hub.publish(conversation_channel(conv.id),
                                   {"t": "typing", "c": conv.id, "from": conn._side()})
        case Read():
            conv = await conversation_for(conn, command.conversation_id)
            await node.hub.publish(conversation_channel(conv.id), {
                "t": "read", "c": conv.id, "from": conn._side(), "seq": command.seq})
        case End():
            await handle_end(conn, command)
        case RequestChat():
            await handle_request_chat(conn, command)
        case LeaveQueue():
            await handle_leave(conn, command)
        case Duty():
            await handle_duty(conn, command)
        case Capacity():
            await handle_capacity(conn, command)
        case _:
            extra = node.handlers.get(type(command))
            if extra is None:
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "unknown frame type for your role")
            await extra(conn, command)


async def audit_read(conn: Connection, conv: Conversation, after_seq: int) -> None:
    p = conn.principal
    if conv.id in conn.watching:
        reason = "supervisor watching"
    elif conv.counselor_id == p.id:
        reason = "own conversation"
    else:
        reason = "participant"
    await conn.node.services.pool.execute(
        "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, detail, at)"
        " VALUES ($1, 'read_transcript', $2, $3, jsonb_build_object('after_seq', $4::bigint),"
        " $5)",
        uuid.UUID(p.id), uuid.UUID(conv.id), reason, after_seq, conn.node.now())


async def handle_sync(conn: Connection, command: Sync) -> None:
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
        await audit_read(conn, conv, command.after_seq)
    conn.run(conn.feed.sync(conv.id, command.after_seq, command.ref))


def _ref(command: Command) -> dict[str, Any]:
    return {"ref": command.ref} if command.ref is not None else {}


async def store_surely(conn: Connection, message: NewMessage) -> Appended | None:
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
            return await conn.node.writer.append(message)
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


async def handle_send(conn: Connection, command: Send) -> None:
    try:
        await _handle_send(conn, command)
    except ProtocolError as exc:
        if exc.code in (ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED):
            name_first_refused(conn, command, exc)
        raise


async def _handle_send(conn: Connection, command: Send) -> None:
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
    if p.role is Role.WORKER and node.assessor is not None:
        assessment = node.assessor(command.text)
    message = NewMessage(
        conv.id, side, command.client_id, command.text,
        staff_id=p.id if p.is_staff else None,
        worker_id=p.id if p.role is Role.WORKER else None,
        risk=(int(assessment.level), tuple(assessment.reasons))
        if assessment is not None else None,
    )
    result = await store_surely(conn, message)
    if result is None:
        return  # the socket is closing; the client resends with the same client_id
    metrics.messages_stored(side).inc()
    at = result.at.isoformat()
    conn.push({
        "type": "ack", "conversation_id": conv.id, "client_id": command.client_id,
        "seq": result.seq, "at": at, "duplicate": result.duplicate, **_ref(command),
    })
    metrics.ACK_SECONDS.observe(time.perf_counter() - started)
    local = None
    if result.sealed is not None and result.wrapped is not None:
        event = message_event(conv.id, result.seq, side, command.client_id, "text",
                              at, result.sealed, result.wrapped)
        # This node's sockets get the text as sent: nothing to decrypt for them.
        msg = StoredMessage(conversation_id=conv.id, seq=result.seq, sender_role=side,
                            client_id=command.client_id, kind="text", text=command.text,
                            at=result.at)
        local = {**event, OPENED: (msg, wire.dumps(msg.frame()))}
    else:
        # A resend: the first attempt may have died before fanning out. A nudge is enough.
        event = {"t": "nudge", "c": conv.id, "seq": result.seq}
    # Stored and acknowledged already: if this publish is lost, receivers catch up from
    # PostgreSQL when the hub reconnects (or on their next sync). Not the sender's error.
    node.hub.publish_soon(conversation_channel(conv.id), event, local)
    metrics.STORE_SECONDS.observe(time.perf_counter() - started)
    if not result.duplicate:
        for hook in node.message_hooks:
            try:
                await hook(conn, conv, result, command.text, assessment)
            except Exception:
                log.exception("message hook failed")


async def handle_end(conn: Connection, command: End) -> None:
    node = conn.node
    assert node.dispatcher is not None
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
    ended = await node.dispatcher.end(
        conv.id, side, counselor_id=conn.principal.id if conn.role is Role.COUNSELOR else None)
    if ended is None:
        if remembered:
            # Closed or handed over since it was remembered: answer from the record.
            conn.known.pop(conv.id, None)
            await conversation_for(conn, conv.id)
        conn.push({"type": "ended", "conversation_id": conv.id, "by": None, **_ref(command)})


async def handle_request_chat(conn: Connection, command: RequestChat) -> None:
    node = conn.node
    assert node.dispatcher is not None
    frame = await node.dispatcher.request_chat(conn, replace=command.replace)
    conn.push({**frame, **_ref(command)})


async def handle_leave(conn: Connection, command: LeaveQueue) -> None:
    node = conn.node
    p = conn.principal
    conv = await node.conversations.open_for_session(p.id, p.token_hash, p.devices)
    if conv is None or conv.status != "waiting" or not may_access(conn, conv):
        raise ProtocolError(ErrorCode.NOT_FOUND, "you are not waiting")
    assert node.dispatcher is not None
    await node.dispatcher.leave(conv)
    conn.push({"type": "left", "conversation_id": conv.id, **_ref(command)})


async def handle_duty(conn: Connection, command: Duty) -> None:
    assert conn.node.dispatcher is not None
    frame = await conn.node.dispatcher.set_duty(conn, command.on)
    conn.push({**frame, **_ref(command)})


async def handle_capacity(conn: Connection, command: Capacity) -> None:
    assert conn.node.dispatcher is not None
    frame = await conn.node.dispatcher.set_capacity(conn, command.capacity)
    conn.push({**frame, **_ref(command)})


# ---- the socket loop --------------------------------------------------------------------


def origin_allowed(ws: WebSocket, node: Node) -> bool:
    origin = ws.headers.get("origin")
    return origin is not None and origin.rstrip("/") in node.settings.allowed_origins


async def serve(ws: WebSocket, send: AsgiSend, cookie: str, roles: frozenset[Role]) -> None:
    node: Node = ws.app.state.node
    if not origin_allowed(ws, node):
        # Refused before accepting: the client sees HTTP 403 on the upgrade.
        await ws.close(code=1008)
        return
    if node.draining:
        # Stopping: the client should go to another node. (HTTP 503 on the upgrade.)
        await ws.send_denial_response(PlainTextResponse(
            "node stopping", status_code=503, headers={"Retry-After": "1"}))
        return
    principal = await node.sessions.lookup(ws.cookies.get(cookie))
    await ws.accept()
    if principal is None or principal.role not in roles:
        await ws.close(CloseCode.UNAUTHENTICATED)
        return
    conn = Connection(ws, send, principal, node)
    node.connections[principal.id].add(conn)
    writer = asyncio.create_task(conn.writer())
    remove_resync = node.hub.on_resync(conn.resync_all)
    try:
        if principal.is_staff:
            await conn.listen(user_channel(principal.id))
            await conn.listen(role_channel(str(principal.role)))
        else:
            # Never "every socket of this worker": a worker socket hears its own session
            # and the devices it holds, so a match reaches only sessions that may read it.
            await conn.listen(session_channel(principal.token_hash))
            for device in principal.devices:
                await conn.listen(device_channel(device))
        assert node.dispatcher is not None
        conn.welcome(await node.dispatcher.welcome(conn))
        await read_loop(conn)
    finally:
        remove_resync()
        node.connections[principal.id].discard(conn)
        if not node.connections[principal.id]:
            del node.connections[principal.id]
        for channel in list(conn.channels):
            await conn.unlisten(channel)
        for task in list(conn.tasks):
            task.cancel()
        conn.close(conn.close_code or 1000)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):  # not wait_for: see Dispatcher._match_loop
                await writer
        if node.dispatcher is not None:
            await node.dispatcher.disconnected(conn)


async def read_loop(conn: Connection) -> None:
    """Read frames until the client leaves or the connection is closed from our side."""
    # One reader task per socket, not one per frame: a task and a wait() per frame were
    # a visible share of a node's CPU at thousands of frames a second.
    reader = conn.reader = asyncio.create_task(_read_frames(conn))
    closed = asyncio.create_task(conn.closed.wait())
    try:
        await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
        if conn.draining:
            # The drain stopped the reader; it closes the socket once the frames in
            # flight are answered (leaving now would cancel them).
            await closed
    finally:
        reader.cancel()
        closed.cancel()
    if reader.done() and not reader.cancelled() and not conn.draining:
        reader.result()  # an unexpected failure is raised here, as before


async def _read_frames(conn: Connection) -> None:
    ws = conn.ws
    try:
        while conn.close_code is None:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None and message.get("bytes") is not None:
                raw = message["bytes"]
            admitted = admit(conn, raw)
            if admitted is not None:
                await conn.in_flight.acquire()
                conn.spawn(run_in_lane(conn, *admitted))
    except WebSocketDisconnect:
        return


def charge(conn: Connection, cost: float) -> None:
    wait = conn.bucket.take(cost, time.monotonic())
    if wait:
        if conn.bucket.strikes >= FLOOD_STRIKES:
            conn.close(CloseCode.FLOOD)
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many frames; slow down",
                            retry_after=round(wait, 1), retry_after_ms=math.ceil(wait * 1000))


def admit(conn: Connection, raw: str | bytes | None) -> tuple[Command, str | None] | None:
    """Parse and rate-limit a frame, in arrival order; errors are answered at once."""
    ref = None
    try:
        try:
            data = decode(raw or b"")
            ref = read_ref(data, conn.limits)
            command, spec = parse(data, conn.role, conn.limits)
        except ProtocolError:
            # Malformed frames cost as much as a send, so garbage cannot flood for free.
            charge(conn, 1.0)
            raise
        try:
            charge(conn, spec.cost)
        except ProtocolError as exc:
            if isinstance(command, Send):
                name_first_refused(conn, command, exc)
            raise
    except ProtocolError as exc:
        metrics.PROTOCOL_ERRORS.labels(code=str(exc.code)).inc()
        conn.push(exc.frame(ref))
        return None
    return command, ref


async def run_in_lane(conn: Connection, command: Command, ref: str | None) -> None:
    """Handle a frame after the earlier frames of the same conversation."""
    lane = getattr(command, "conversation_id", None) or "_"
    lock = conn.lanes.setdefault(lane, asyncio.Lock())
    try:
        async with lock:
            try:
                await handle(conn, command)
            except ProtocolError as exc:
                metrics.PROTOCOL_ERRORS.labels(code=str(exc.code)).inc()
                conn.push(exc.frame(ref))
            except Exception:
                log.exception("frame handling failed")
                error = ProtocolError(ErrorCode.UNAVAILABLE, "something went wrong; retry",
                                      retry_after_ms=RETRY_AFTER_MS)
                if isinstance(command, Send):
                    name_first_refused(conn, command, error)
                conn.push(error.frame(ref))
    finally:
        conn.in_flight.release()


class SocketEndpoint:
    """A WebSocket route's ASGI app. Not a Starlette endpoint function, so that a socket's
    writer gets the server's own send: Starlette's WebSocket.send_text adds two coroutine
    layers and state checks to every frame (~4 % of a node's CPU at saturation). The
    handshake, receiving and closing still go through Starlette's WebSocket."""

    def __init__(self, cookie: str, roles: frozenset[Role]) -> None:
        self.cookie = cookie
        self.roles = roles

    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        await serve(WebSocket(scope, receive, send), send, self.cookie, self.roles)


worker_endpoint = SocketEndpoint(WORKER_COOKIE, SOCKETS["/ws/worker"])
staff_endpoint = SocketEndpoint(STAFF_COOKIE, SOCKETS["/ws/staff"])
