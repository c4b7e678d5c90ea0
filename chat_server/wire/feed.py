"""What one connection is sent of each conversation it follows: a pure feed.

Events go in (a live message heard through the hub, a page read from PostgreSQL, the
client's `sync`, the welcome), actions come out (a frame to send, a page to read). No
`await`, no clock, no I/O: the endpoint is a thin pump that carries the actions out and
feeds the results back (the python-websockets way), so every ordering of live traffic,
reads and syncs can be tested by feeding events and checking the frames.

The guarantee, per connection and conversation: from the point the client named in
`sync` (or, for a conversation that began on this connection, from where it was when
the connection started following it), every stored message is sent exactly once and in
seq order. A live message is sent only when it is the very next seq; anything else
(a gap, a sync in progress, a hold) is served from PostgreSQL, and live sending resumes
from the same cursor once the read caught up with everything heard meanwhile.

Conversations open when the connection starts are *held*: nothing of them is sent until
the client's `sync` names its resume point, so no frame can arrive before the client
knows where it stands (the welcome) or be sent twice by the replay that follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chat_server.wire.frames import Synced

# A frame as the endpoint writes it: a dict, or a str already encoded (live messages are
# encoded once per node and shared by its sockets).
Frame = dict[str, Any] | str


@dataclass(frozen=True, slots=True)
class Emit:
    """Send this frame to the client."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class Fetch:
    """Read stored messages of a conversation with seq > after_seq and hand them to
    `Feed.page` with the same after_seq."""

    conversation_id: str
    after_seq: int


Action = Emit | Fetch


@dataclass(slots=True)
class Stream:
    """One followed conversation on one connection."""

    # Last seq sent to the client (or its resume point before anything was sent).
    cursor: int
    # Highest seq known to be stored: a page read that ends below it is not the end.
    heard: int
    # Waiting for the client's `sync` to say where it stands; nothing is sent meanwhile.
    held: bool = False
    # A read is out; live messages are only noted (as heard) until it comes back.
    fetching: bool = False
    # `ref`s of syncs to answer with `synced` once the read has caught up.
    syncs: list[str | None] = field(default_factory=list)


class Feed:
    """The per-connection delivery state of every conversation the connection follows."""

    def __init__(self, page_size: int) -> None:
        # Messages a read returns at most; a full page means there may be more.
        self.page_size = page_size
        self.streams: dict[str, Stream] = {}
        # Until the welcome is out, nothing of any conversation is sent (it would arrive
        # before the frame that tells the client what it follows).
        self.welcomed = False

    # ---- following ----------------------------------------------------------------

    def follow(self, conversation_id: str, last_seq: int, *, held: bool = False) -> list[Action]:
        """Start following from last_seq (the conversation's end when it was read).

        The caller subscribes before carrying out the returned read, so a message stored
        between its read of last_seq and the subscription is still served.
        """
        if conversation_id in self.streams:
            return []
        stream = self.streams[conversation_id] = Stream(last_seq, last_seq, held=held)
        if held or not self.welcomed:
            return []
        return self._fetch(conversation_id, stream)

    def unfollow(self, conversation_id: str) -> None:
        self.streams.pop(conversation_id, None)

    def welcome(self) -> list[Action]:
        """The welcome frame was sent: conversations not held may now be served."""
        self.welcomed = True
        actions: list[Action] = []
        for conversation_id, stream in self.streams.items():
            if not stream.held and not stream.fetching and stream.heard > stream.cursor:
                actions += self._fetch(conversation_id, stream)
        return actions

    # ---- events -------------------------------------------------------------------

    def live(self, conversation_id: str, seq: int, frame: Frame) -> list[Action]:
        """A stored message heard through the hub (possibly late, twice or out of order)."""
        stream = self.streams.get(conversation_id)
        if stream is None:
            return []
        if seq > stream.heard:
            stream.heard = seq
        if stream.held or stream.fetching or not self.welcomed or seq <= stream.cursor:
            return []
        if seq == stream.cursor + 1:
            stream.cursor = seq
            return [Emit(frame)]
        return self._fetch(conversation_id, stream)  # a gap: fill it from the record

    def nudge(self, conversation_id: str, seq: int) -> list[Action]:
        """Something up to seq is stored but its live event may have been lost."""
        stream = self.streams.get(conversation_id)
        if stream is None:
            return []
        stream.heard = max(stream.heard, seq)
        if stream.held or stream.fetching or not self.welcomed or seq <= stream.cursor:
            return []
        return self._fetch(conversation_id, stream)

    def lost(self) -> list[Action]:
        """Live events may have been lost (the hub reconnected): check every stream."""
        actions: list[Action] = []
        if not self.welcomed:
            return actions
        for conversation_id, stream in self.streams.items():
            if not stream.held and not stream.fetching:
                actions += self._fetch(conversation_id, stream)
        return actions

    def sync(self, conversation_id: str, after_seq: int, ref: str | None = None) -> list[Action]:
        """The client's resume point: serve everything after it, then go on live.

        The caller follows the conversation first (held, from after_seq) if it did not.
        A sync restarts this connection's stream at after_seq, even below what was sent.
        """
        stream = self.streams[conversation_id]
        stream.held = False
        stream.cursor = after_seq
        stream.syncs.append(ref)
        if stream.fetching:
            return []  # the read out comes back to a moved cursor and is read again
        return self._fetch(conversation_id, stream)

    def page(self, conversation_id: str, after_seq: int,
             messages: Sequence[tuple[int, Frame]]) -> list[Action]:
        """Stored messages with seq > after_seq, in seq order, as read for a Fetch."""
        stream = self.streams.get(conversation_id)
        if stream is None or not stream.fetching:
            return []
        stream.fetching = False
        # The page says all there was after after_seq; it says so about the cursor only if
        # it began at or below it (a sync may have moved the cursor back meanwhile).
        complete = len(messages) < self.page_size and after_seq <= stream.cursor
        actions: list[Action] = []
        for seq, frame in messages:
            if seq > stream.heard:
                stream.heard = seq
            if seq == stream.cursor + 1:
                stream.cursor = seq
                actions.append(Emit(frame))
        if stream.held:
            return actions
        if complete and stream.heard <= stream.cursor:
            for ref in stream.syncs:
                actions.append(Emit(Synced(conversation_id, stream.cursor, ref=ref).to_wire()))
            stream.syncs.clear()
            return actions
        return actions + self._fetch(conversation_id, stream)

    def failed(self, conversation_id: str) -> None:
        """A read failed; the caller retries with `retry` (or gives the connection up)."""
        stream = self.streams.get(conversation_id)
        if stream is not None:
            stream.fetching = False

    def retry(self, conversation_id: str) -> list[Action]:
        stream = self.streams.get(conversation_id)
        if stream is None or stream.held or stream.fetching:
            return []
        return self._fetch(conversation_id, stream)

    # ---- views --------------------------------------------------------------------

    def following(self) -> Iterable[str]:
        return self.streams.keys()

    def _fetch(self, conversation_id: str, stream: Stream) -> list[Action]:
        stream.fetching = True
        return [Fetch(conversation_id, stream.cursor)]
