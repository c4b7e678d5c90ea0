"""The WebSocket protocol without I/O: frame parsing, limits, delivery order, rate limits.

The endpoint feeds raw frames in and gets typed commands or ProtocolError out; nothing here
awaits, reads a clock or touches a store, so every rule is tested by feeding inputs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from chat_server.wire import codec as wire
from yizhan_errors import YizhanError


class Role(StrEnum):
    WORKER = "worker"
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.COUNSELOR, Role.SUPERVISOR, Role.ADMIN})
ALL_ROLES = frozenset(Role)


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    TOO_LONG = "too_long"
    NOT_FOUND = "not_found"
    CONVERSATION_CLOSED = "conversation_closed"
    RATE_LIMITED = "rate_limited"
    SERVICE_CLOSED = "service_closed"
    ALREADY_OPEN = "already_open"
    OPEN_ELSEWHERE = "open_elsewhere"
    NOT_ON_DUTY = "not_on_duty"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"


class CloseCode(IntEnum):
    GOING_AWAY = 1001
    # This node is stopping on purpose (deploy): reconnect at once, any node will do.
    SERVICE_RESTART = 1012
    # The record could not be reached in time: reconnect after a pause and resend.
    TRY_AGAIN_LATER = 1013
    TOO_BIG = 1009
    UNAUTHENTICATED = 4401
    FLOOD = 4429


class ProtocolError(YizhanError):
    """A frame the server refuses; becomes an `error` frame and changes nothing."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def frame(self, ref: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "code": str(self.code), "message": self.message}
        out.update(self.extra)
        if ref is not None:
            out["ref"] = ref
        return out


@dataclass(frozen=True, slots=True)
class Limits:
    max_text_chars: int = 2000
    max_ref_chars: int = 64


# ---- commands -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    ref: str | None


@dataclass(frozen=True, slots=True)
class Ping(Command):
    pass


@dataclass(frozen=True, slots=True)
class Send(Command):
    conversation_id: str
    client_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Sync(Command):
    conversation_id: str
    after_seq: int


@dataclass(frozen=True, slots=True)
class Typing(Command):
    conversation_id: str


@dataclass(frozen=True, slots=True)
class Read(Command):
    conversation_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class End(Command):
    conversation_id: str


@dataclass(frozen=True, slots=True)
class RequestChat(Command):
    replace: bool


@dataclass(frozen=True, slots=True)
class LeaveQueue(Command):
    pass


@dataclass(frozen=True, slots=True)
class Duty(Command):
    on: bool


@dataclass(frozen=True, slots=True)
class Capacity(Command):
    capacity: int


# ---- field readers --------------------------------------------------------------------

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


class Fields:
    """Typed access to a frame's fields; every failure names the field."""

    def __init__(self, data: dict[str, Any], limits: Limits) -> None:
        self.data = data
        self.limits = limits

    def _bad(self, name: str, want: str) -> ProtocolError:
        return ProtocolError(ErrorCode.BAD_FIELD, f"{name} must be {want}", field=name)

    def uuid(self, name: str) -> str:
        value = self.data.get(name)
        if not isinstance(value, str):
            raise self._bad(name, "a conversation id")
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise self._bad(name, "a conversation id") from None

    def integer(self, name: str, *, low: int, high: int, default: int | None = None) -> int:
        value = self.data.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self._bad(name, f"an integer from {low} to {high}")
        return value

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def client_id(self, name: str = "client_id") -> str:
        value = self.data.get(name)
        if not isinstance(value, str) or not _CLIENT_ID.match(value):
            raise self._bad(name, "1–64 letters, digits or -_.:")
        return value

    def text(self, name: str, *, max_chars: int | None = None, required: bool = True) -> str:
        value = self.data.get(name, None if required else "")
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        limit = max_chars if max_chars is not None else self.limits.max_text_chars
        if len(value) > limit:
            raise ProtocolError(
                ErrorCode.TOO_LONG, f"{name} is longer than {limit} characters", field=name
            )
        if required and not value.strip():
            raise self._bad(name, "non-empty")
        return value

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.data.get(name)
        if value not in options:
            raise self._bad(name, "one of " + ", ".join(options))
        return str(value)


Parser = Callable[[Fields, str | None], Command]


@dataclass(frozen=True, slots=True)
class FrameSpec:
    parse: Parser
    roles: frozenset[Role]
    # Typing and pings are cheap and frequent: they cost a fraction of a send.
    cost: float = 1.0


FRAMES: dict[str, FrameSpec] = {}


def frame_type(name: str, roles: frozenset[Role], cost: float = 1.0) -> Callable[[Parser], Parser]:
    """Register a core client frame type (features pass theirs to wiring as a table)."""

    def register(parse: Parser) -> Parser:
        FRAMES[name] = FrameSpec(parse, roles, cost)
        return parse

    return register


@frame_type("ping", ALL_ROLES, cost=0.1)
def _ping(f: Fields, ref: str | None) -> Command:
    return Ping(ref)


@frame_type("send", frozenset({Role.WORKER, Role.COUNSELOR, Role.SUPERVISOR}))
def _send(f: Fields, ref: str | None) -> Command:
    return Send(ref, f.uuid("conversation_id"), f.client_id(), f.text("text"))


@frame_type("sync", ALL_ROLES)
def _sync(f: Fields, ref: str | None) -> Command:
    return Sync(ref, f.uuid("conversation_id"), f.integer("after_seq", low=0, high=2**62))


@frame_type("typing", frozenset({Role.WORKER, Role.COUNSELOR}), cost=0.1)
def _typing(f: Fields, ref: str | None) -> Command:
    return Typing(ref, f.uuid("conversation_id"))


@frame_type("read", frozenset({Role.WORKER, Role.COUNSELOR}), cost=0.1)
def _read(f: Fields, ref: str | None) -> Command:
    return Read(ref, f.uuid("conversation_id"), f.integer("seq", low=0, high=2**62))


@frame_type("end", frozenset({Role.WORKER, Role.COUNSELOR, Role.SUPERVISOR}))
def _end(f: Fields, ref: str | None) -> Command:
    return End(ref, f.uuid("conversation_id"))


@frame_type("request_chat", frozenset({Role.WORKER}))
def _request_chat(f: Fields, ref: str | None) -> Command:
    return RequestChat(ref, f.boolean("replace", default=False))


@frame_type("leave_queue", frozenset({Role.WORKER}))
def _leave_queue(f: Fields, ref: str | None) -> Command:
    return LeaveQueue(ref)


@frame_type("duty", frozenset({Role.COUNSELOR}))
def _duty(f: Fields, ref: str | None) -> Command:
    return Duty(ref, f.boolean("on"))


@frame_type("capacity", frozenset({Role.COUNSELOR}))
def _capacity(f: Fields, ref: str | None) -> Command:
    return Capacity(ref, f.integer("capacity", low=1, high=10))


def decode(raw: str | bytes) -> dict[str, Any]:
    try:
        data = wire.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(ErrorCode.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "frame must be a JSON object")
    if (why := wire.why_unacceptable(data)) is not None:
        raise ProtocolError(ErrorCode.BAD_JSON, why)
    return data


def read_ref(data: dict[str, Any], limits: Limits) -> str | None:
    ref = data.get("ref")
    if isinstance(ref, str) and len(ref) <= limits.max_ref_chars:
        return ref
    return None


def parse(data: dict[str, Any], role: Role, limits: Limits,
          frames: Mapping[str, FrameSpec] = FRAMES) -> tuple[Command, FrameSpec]:
    """Turn a decoded frame into a command this role may send, or raise ProtocolError.
    `frames`: the node's whole table (wiring adds the features' frames to FRAMES)."""
    ref = read_ref(data, limits)
    kind = data.get("type")
    spec = frames.get(kind) if isinstance(kind, str) else None
    if spec is None or role not in spec.roles:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "unknown frame type for your role")
    return spec.parse(Fields(data, limits), ref), spec


# ---- delivery order -------------------------------------------------------------------


# ---- rate limit -----------------------------------------------------------------------


@dataclass(slots=True)
class TokenBucket:
    """Frames per minute per connection, with bursts up to a fifth of a minute's worth."""

    per_minute: float
    tokens: float = -1.0
    updated: float = 0.0
    strikes: int = 0

    def take(self, cost: float, now: float) -> float:
        """Spend `cost`; return 0 if allowed, else seconds until it would be."""
        burst = max(5.0, self.per_minute / 5)
        if self.tokens < 0:
            self.tokens, self.updated = burst, now
        rate = self.per_minute / 60.0
        self.tokens = min(burst, self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            self.strikes = 0
            return 0.0
        self.strikes += 1
        return (cost - self.tokens) / rate


# Sustained refusals after which a connection is closed as flooding.
FLOOD_STRIKES = 30
