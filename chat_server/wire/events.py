"""What nodes tell each other through the hub: typed node events and their one codec.

Every event is a dataclass with a tag; `encode` turns it into the compact JSON object
published on Redis (`"t"` is the tag, the other keys are short: `c` a conversation id,
`n`/`ct`/`kv`/`wk` a sealed message), `decode` turns such an object back, both through
the table `EVENTS`, one entry per tag. A key whose value is None is left out.

A stored message travels as ciphertext (`MessageEvent`): Redis never sees text. The node
that stored it, and the first socket of any other node that opens it, keep the opened
form on the event (`opened`) for the node's other sockets; it is never encoded.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from yizhan_errors import YizhanError


class EventError(YizhanError, ValueError):
    """A payload that is no node event (unknown tag, a key missing or of the wrong kind)."""


class NodeEvent:
    """Base of every node event; subclasses are dataclasses with a TAG."""

    __slots__ = ()
    TAG: ClassVar[str]


@dataclass(slots=True)
class MessageEvent(NodeEvent):
    """A stored message, sealed. Not frozen: `opened` is filled in once per node."""

    TAG = "msg"
    conversation_id: str
    seq: int
    sender: str
    client_id: str
    kind: str
    at: str
    nonce: bytes
    ciphertext: bytes
    kek_version: int
    wrapped_key: bytes
    # (the StoredMessage, its `message` frame encoded): what this node's sockets send.
    # Plaintext: never encoded, never compared, never shown.
    opened: tuple[Any, str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Nudge(NodeEvent):
    """Something up to `seq` is stored; its message event may have been lost."""

    TAG = "nudge"
    conversation_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class TypingEvent(NodeEvent):
    TAG = "typing"
    conversation_id: str
    sender: str


@dataclass(frozen=True, slots=True)
class ReadEvent(NodeEvent):
    TAG = "read"
    conversation_id: str
    sender: str
    seq: int


@dataclass(frozen=True, slots=True)
class FrameEvent(NodeEvent):
    """A server frame (`ServerFrame.to_wire()`) for the listeners of a channel; with
    `roles`, only sockets of those roles send it."""

    TAG = "frame"
    frame: Mapping[str, Any]
    roles: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class Revoked(NodeEvent):
    """An account disabled (every socket closes) or, with `token_hash` (hex), a session
    signed out (only its sockets close)."""

    TAG = "revoked"
    token_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Follow(NodeEvent):
    """A match: push `frame`, then start following the conversation."""

    TAG = "follow"
    conversation_id: str
    frame: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Unfollow(NodeEvent):
    """A hand-over: push `frame`, then stop following the conversation."""

    TAG = "unfollow"
    conversation_id: str
    frame: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DutyEvent(NodeEvent):
    """A counselor's duty changed (another tab, a shift's end): push the `duty` frame."""

    TAG = "duty"
    frame: Mapping[str, Any]


# ---- the table ------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise EventError("not base64 text")
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True, slots=True)
class Key:
    """One field on the wire: its attribute, its key, and how its value is carried."""

    attr: str
    key: str
    # None: a JSON value as is; else (to the wire, from the wire).
    convert: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None


_BYTES = (_b64, _unb64)


@dataclass(frozen=True, slots=True)
class EventSpec:
    cls: type[NodeEvent]
    keys: tuple[Key, ...]


EVENTS: dict[str, EventSpec] = {
    spec.cls.TAG: spec
    for spec in (
        EventSpec(MessageEvent, (
            Key("conversation_id", "c"), Key("seq", "seq"), Key("sender", "from"),
            Key("client_id", "client_id"), Key("kind", "kind"), Key("at", "at"),
            Key("nonce", "n", _BYTES), Key("ciphertext", "ct", _BYTES),
            Key("kek_version", "kv"), Key("wrapped_key", "wk", _BYTES))),
        EventSpec(Nudge, (Key("conversation_id", "c"), Key("seq", "seq"))),
        EventSpec(TypingEvent, (Key("conversation_id", "c"), Key("sender", "from"))),
        EventSpec(ReadEvent, (Key("conversation_id", "c"), Key("sender", "from"),
                              Key("seq", "seq"))),
        EventSpec(FrameEvent, (Key("frame", "frame"), Key("roles", "roles"))),
        EventSpec(Revoked, (Key("token_hash", "h"),)),
        EventSpec(Follow, (Key("conversation_id", "c"), Key("frame", "frame"))),
        EventSpec(Unfollow, (Key("conversation_id", "c"), Key("frame", "frame"))),
        EventSpec(DutyEvent, (Key("frame", "frame"),)),
    )
}


def _compile(spec: EventSpec) -> Callable[[Any], dict[str, Any]]:
    """The spec's encoder as straight-line code, written once per event class (as
    frames.py does for frames): a loop over the keys with getattr cost about three times
    as much, on every published message."""
    lines = ["def encode(event):", f"    out = {{'t': {spec.cls.TAG!r}}}"]
    namespace: dict[str, Any] = {}
    for i, key in enumerate(spec.keys):
        put = "v"
        if key.convert is not None:
            namespace[f"to_wire_{i}"] = key.convert[0]
            put = f"to_wire_{i}(v)"
        lines += [f"    v = event.{key.attr}", "    if v is not None:",
                  f"        out[{key.key!r}] = {put}"]
    lines.append("    return out")
    exec("\n".join(lines), namespace)  # the source is built from the table's names only
    encoder: Callable[[Any], dict[str, Any]] = namespace["encode"]
    return encoder


_ENCODERS: dict[type[NodeEvent], Callable[[Any], dict[str, Any]]] = {
    spec.cls: _compile(spec) for spec in EVENTS.values()}


def encode(event: NodeEvent) -> dict[str, Any]:
    """The JSON object published for `event` (None values left out)."""
    return _ENCODERS[type(event)](event)


def decode(payload: Mapping[str, Any]) -> NodeEvent:
    """The event a published object stands for; EventError if it stands for none."""
    tag = payload.get("t")
    spec = EVENTS.get(tag) if isinstance(tag, str) else None
    if spec is None:
        raise EventError("unknown event")
    values: dict[str, Any] = {}
    try:
        for key in spec.keys:
            if key.key in payload:
                raw = payload[key.key]
                values[key.attr] = raw if key.convert is None else key.convert[1](raw)
        event = spec.cls(**values)
    except (TypeError, ValueError) as exc:  # a key missing, or bad base64
        raise EventError(f"malformed {tag} event") from exc
    return event

