"""Every frame a client may send, for every role: typed commands and the table of them.

`FRAMES` is built here, in one literal: frame type -> how it is read, who may send it,
what it costs against the rate limit. Nothing registers into it from elsewhere.
The crisis frames are declared here too (their handlers live in chat_server/crisis/);
they read levels, screens and outcomes with the crisis rules, which are pure.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chat_server.crisis.escalation import OUTCOMES, Screen, parse_screen
from chat_server.crisis.levels import RiskLevel
from chat_server.wire.codes import ALL_ROLES, ErrorCode, Limits, ProtocolError, Role

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


# Crisis: a counselor's flag, a waiting worker's screen, a supervisor's actions.


@dataclass(frozen=True, slots=True)
class Flag(Command):
    conversation_id: str
    level: RiskLevel
    reason: str


@dataclass(frozen=True, slots=True)
class ScreenAnswers(Command):
    screen: Screen


@dataclass(frozen=True, slots=True)
class Ack(Command):
    escalation_id: str


@dataclass(frozen=True, slots=True)
class Watch(Command):
    conversation_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Whisper(Command):
    conversation_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Join(Command):
    conversation_id: str


@dataclass(frozen=True, slots=True)
class SetLevel(Command):
    escalation_id: str
    level: RiskLevel
    reason: str


@dataclass(frozen=True, slots=True)
class Resolve(Command):
    escalation_id: str
    outcome: str
    note: str


# ---- field readers --------------------------------------------------------------------

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
# Free-text reasons and notes of crisis frames (stored encrypted).
MAX_REASON = 500
LEVEL_NAMES = tuple(level.name for level in RiskLevel)


class Fields:
    """Typed access to a frame's fields; every failure names the field."""

    def __init__(self, data: dict[str, Any], limits: Limits) -> None:
        # The decoded frame, and the limits of this connection's settings.
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


# ---- parsers --------------------------------------------------------------------------


def _ping(f: Fields, ref: str | None) -> Command:
    return Ping(ref)


def _send(f: Fields, ref: str | None) -> Command:
    return Send(ref, f.uuid("conversation_id"), f.client_id(), f.text("text"))


def _sync(f: Fields, ref: str | None) -> Command:
    return Sync(ref, f.uuid("conversation_id"), f.integer("after_seq", low=0, high=2**62))


def _typing(f: Fields, ref: str | None) -> Command:
    return Typing(ref, f.uuid("conversation_id"))


def _read(f: Fields, ref: str | None) -> Command:
    return Read(ref, f.uuid("conversation_id"), f.integer("seq", low=0, high=2**62))


def _end(f: Fields, ref: str | None) -> Command:
    return End(ref, f.uuid("conversation_id"))


def _request_chat(f: Fields, ref: str | None) -> Command:
    return RequestChat(ref, f.boolean("replace", default=False))


def _leave_queue(f: Fields, ref: str | None) -> Command:
    return LeaveQueue(ref)


def _duty(f: Fields, ref: str | None) -> Command:
    return Duty(ref, f.boolean("on"))


def _capacity(f: Fields, ref: str | None) -> Command:
    return Capacity(ref, f.integer("capacity", low=1, high=10))


def _flag(f: Fields, ref: str | None) -> Command:
    level = RiskLevel.parse(f.choice("level", ("watch", "high", "imminent")))
    return Flag(ref, f.uuid("conversation_id"), level, f.text("reason", max_chars=MAX_REASON))


def _screen(f: Fields, ref: str | None) -> Command:
    try:
        return ScreenAnswers(ref, parse_screen(f.data.get("answers")))
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"answers.{exc} must be an integer 0–3",
                            field=f"answers.{exc}") from None


def _ack(f: Fields, ref: str | None) -> Command:
    return Ack(ref, f.uuid("escalation_id"))


def _watch(f: Fields, ref: str | None) -> Command:
    return Watch(ref, f.uuid("conversation_id"),
                 f.text("reason", max_chars=MAX_REASON, required=False))


def _whisper(f: Fields, ref: str | None) -> Command:
    return Whisper(ref, f.uuid("conversation_id"), f.text("text"))


def _join(f: Fields, ref: str | None) -> Command:
    return Join(ref, f.uuid("conversation_id"))


def _set_level(f: Fields, ref: str | None) -> Command:
    level = RiskLevel.parse(f.choice("level", LEVEL_NAMES))
    return SetLevel(ref, f.uuid("escalation_id"), level,
                    f.text("reason", max_chars=MAX_REASON))


def _resolve(f: Fields, ref: str | None) -> Command:
    return Resolve(ref, f.uuid("escalation_id"), f.choice("outcome", OUTCOMES),
                   f.text("note", max_chars=MAX_REASON, required=False))


# ---- the table ------------------------------------------------------------------------

Parser = Callable[[Fields, str | None], Command]


@dataclass(frozen=True, slots=True)
class FrameSpec:
    parse: Parser
    roles: frozenset[Role]
    # Typing and pings are cheap and frequent: they cost a fraction of a send.
    cost: float = 1.0


_TALKERS = frozenset({Role.WORKER, Role.COUNSELOR, Role.SUPERVISOR})
_SIDES = frozenset({Role.WORKER, Role.COUNSELOR})
_WORKER = frozenset({Role.WORKER})
_COUNSELOR = frozenset({Role.COUNSELOR})
_SUPERVISOR = frozenset({Role.SUPERVISOR})

FRAMES: dict[str, FrameSpec] = {
    "ping": FrameSpec(_ping, ALL_ROLES, cost=0.1),
    "send": FrameSpec(_send, _TALKERS),
    "sync": FrameSpec(_sync, ALL_ROLES),
    "typing": FrameSpec(_typing, _SIDES, cost=0.1),
    "read": FrameSpec(_read, _SIDES, cost=0.1),
    "end": FrameSpec(_end, _TALKERS),
    "request_chat": FrameSpec(_request_chat, _WORKER),
    "leave_queue": FrameSpec(_leave_queue, _WORKER),
    "duty": FrameSpec(_duty, _COUNSELOR),
    "capacity": FrameSpec(_capacity, _COUNSELOR),
    "flag": FrameSpec(_flag, _COUNSELOR),
    "screen": FrameSpec(_screen, _WORKER),
    "ack": FrameSpec(_ack, _SUPERVISOR),
    "watch": FrameSpec(_watch, _SUPERVISOR),
    "whisper": FrameSpec(_whisper, _SUPERVISOR),
    "join": FrameSpec(_join, _SUPERVISOR),
    "set_level": FrameSpec(_set_level, _SUPERVISOR),
    "resolve": FrameSpec(_resolve, _SUPERVISOR),
}
