"""One client socket's state: its principal, the conversations it follows through the
feed, its outbox and lanes, and what it hears from the hub. No frame handling here
(commands.py) and no socket loop (endpoint.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket

from chat_server.accounts.sessions import Principal
from chat_server.chat.hub import conversation_channel
from chat_server.chat.node import Node
from chat_server.chat.outbox import Frame, Outbox, OutboxFull
from chat_server.chat.store import Conversation, StoredMessage, may_read
from chat_server.vault import open_text
from chat_server.wire import codec as wire
from chat_server.wire import frames
from chat_server.wire.events import (
    DutyEvent,
    Follow,
    FrameEvent,
    MessageEvent,
    NodeEvent,
    Nudge,
    ReadEvent,
    Revoked,
    TypingEvent,
    Unfollow,
)
from chat_server.wire.feed import Action, Emit, Feed, Stream
from chat_server.wire.frames import ServerFrame
from chat_server.wire.protocol import (
    CloseCode,
    ErrorCode,
    Limits,
    ProtocolError,
    Role,
    TokenBucket,
)
from crypto.envelope import Sealed, Vault
from crypto.keyring import WrappedKey

log = logging.getLogger("yizhan.ws")

# Frames queued for one socket before it is judged too slow and closed (it resyncs).
OUTBOX_LIMIT = 2000
# Stored messages read per round trip when a socket catches up.
CATCH_UP_PAGE = 200
# Frames one socket may have in progress at once; past it the socket is read no further.
MAX_IN_FLIGHT = 64
# Pauses between tries of a catch-up read before the socket is closed (it resumes).
READ_RETRY_S = (0.2, 0.5, 1.0, 2.0)
def message_event(conv_id: str, seq: int, role: str, client_id: str, kind: str,
                  at: str, sealed: Sealed, wrapped: WrappedKey) -> MessageEvent:
    """The pub/sub form of a stored message: ciphertext only, so Redis never sees text."""
    return MessageEvent(conv_id, seq, role, client_id, kind, at, sealed.nonce,
                        sealed.ciphertext, wrapped.kek_version, wrapped.wrapped)


def open_event(vault: Vault, event: MessageEvent) -> tuple[StoredMessage, str]:
    """A pub/sub message event opened: the message, and its frame encoded once."""
    wrapped = WrappedKey(event.kek_version, event.wrapped_key)
    text = open_text(vault, wrapped, event.conversation_id, event.seq, event.sender,
                     event.nonce, event.ciphertext)
    msg = StoredMessage(
        conversation_id=event.conversation_id, seq=event.seq, sender_role=event.sender,
        client_id=event.client_id, kind=event.kind, text=text,
        at=datetime.fromisoformat(event.at),
    )
    return msg, wire.dumps(msg.frame())


class Connection:
    """One client socket: its principal, the conversations it follows, its outbox."""

    def __init__(self, ws: WebSocket, principal: Principal, node: Node) -> None:
        self.ws = ws
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
        # Conversations this socket is ending (the answer to `end` is its `ended`).
        self.ending: set[str] = set()
        # Conversations a supervisor watches read-only (crisis feature), and joined ones it
        # may send into: shared empties until `let_watch`/`let_join` (~0.4 KB an idle socket).
        self.watching: AbstractSet[str] = frozenset()
        self.joined: AbstractSet[str] = frozenset()

    @property
    def role(self) -> Role:
        return self.principal.role

    # ---- output ---------------------------------------------------------------------

    def push(self, frame: Frame | ServerFrame) -> None:
        if isinstance(frame, ServerFrame):
            frame = frame.to_wire()
        if self.early is not None:
            self.early.append(frame)  # the welcome goes first (see welcome)
            return
        try:
            self.outbox.put(frame)
        except OutboxFull:
            log.warning("socket too slow; closing", extra={"fields": {"role": str(self.role)}})
            self.close(CloseCode.GOING_AWAY)

    def welcome(self, frame: Frame | ServerFrame) -> None:
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

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- following conversations ----------------------------------------------------

    async def listen(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.add(channel)
            await self.node.hub.subscribe(channel, self.on_event)

    async def unlisten(self, channel: str) -> None:
        if channel in self.channels:
            self.channels.discard(channel)
            await self.node.hub.unsubscribe(channel, self.on_event)

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
            try:
                actions = self.feed.page(conversation_id, after_seq,
                                         [(m.seq, m.frame()) for m in messages])
            except Exception as exc:
                # A page that cannot be served (a message that does not open, a feed that
                # refuses it) must not leave the stream fetching for good: close, and the
                # client resumes from what it has. By type only: no text in the log.
                log.error("catch-up page failed; closing",
                          extra={"fields": {"error": type(exc).__name__}})
                break
            self.run(actions)
            return
        # Still unreadable: the client resumes elsewhere (or here, later) from what it has.
        self.feed.failed(conversation_id)
        self.close(CloseCode.TRY_AGAIN_LATER)

    def resync_all(self) -> None:
        self.run(self.feed.lost())

    # ---- events from the hub --------------------------------------------------------

    def on_event(self, channel: str, event: NodeEvent) -> None:
        match event:
            case MessageEvent():
                self._on_message(event)
            case Nudge(conversation_id=conv_id, seq=seq):
                self.run(self.feed.nudge(conv_id, seq))
            case TypingEvent(conversation_id=conv_id, sender=sender):
                if sender != self._side() and conv_id in self.cursors:
                    self.push(frames.Typing(conv_id, sender))
            case ReadEvent(conversation_id=conv_id, sender=sender, seq=seq):
                if sender != self._side() and conv_id in self.cursors:
                    self.push(frames.Read(conv_id, sender, seq))
            case FrameEvent(frame=frame, roles=roles):
                if frame.get("type") == frames.Ended.TYPE and answered_end(self, frame):
                    return
                if roles is None or str(self.role) in roles:
                    if frame.get("type") == frames.Queued.TYPE:
                        # Handed back to the queue: no longer active (and, once more, a
                        # conversation this node tells its place in the queue).
                        self.known.pop(frame.get("conversation_id", ""), None)
                    self.push(frame)
            case Revoked(token_hash=token_hash):
                # A whole account (disabled), or one session (signed out) if given.
                if token_hash in (None, self.principal.token_hash.hex()):
                    self.close(CloseCode.UNAUTHENTICATED)
            case Follow(conversation_id=conv_id, frame=frame):
                self.spawn(self.follow_by_id(conv_id, frame))
            case Unfollow(conversation_id=conv_id, frame=frame):
                self.spawn(self._unfollow_with(conv_id, frame))
            case DutyEvent(frame=frame):
                self.on_duty = bool(frame["on"])
                self.push(frame)

    def _side(self) -> str:
        return "worker" if self.role is Role.WORKER else str(self.role)

    def _on_message(self, event: MessageEvent) -> None:
        if event.conversation_id not in self.cursors:
            return
        # Every socket of this node that follows the conversation is handed the same
        # event: the first one opens and encodes it, the others reuse that.
        opened: tuple[StoredMessage, str] | None = event.opened
        if opened is None:
            opened = event.opened = open_event(self.node.vault, event)
        self.deliver(*opened)

    async def follow_by_id(self, conversation_id: str,
                           frame: Mapping[str, Any] | None) -> None:
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
            # Matcher.announce_match. Checked again here, against the record.)
            return
        # From where the announcement stood: a message stored between the match and
        # this read is then served too, not skipped as already known.
        announced = (frame or {}).get("conversation", frame or {}).get("last_seq")
        await self.follow(conv, announced if isinstance(announced, int) else None)

    async def _unfollow_with(self, conversation_id: str,
                             frame: Mapping[str, Any] | None) -> None:
        if frame:
            self.push(frame)
        await self.unfollow(conversation_id)


def answered_end(conn: Connection, frame: Mapping[str, Any]) -> bool:
    """Whether this `ended` already went out on `conn` as the answer to its own `end`."""
    conversation_id = frame.get("conversation_id", "")
    if conversation_id in conn.ending:
        conn.ending.discard(conversation_id)
        return True
    return False


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


def let_watch(conn: Connection, conversation_id: str) -> None:
    """A supervisor may now read this conversation (the crisis feature audited why)."""
    conn.watching = {*conn.watching, conversation_id}


def let_join(conn: Connection, conversation_id: str) -> None:
    """A supervisor watching this conversation may now send into it."""
    conn.joined = {*conn.joined, conversation_id}
