"""The crisis path's client frames: the counselor's flag, the waiting worker's screen, and
the supervisor's ack, watch, whisper, join, set_level and resolve (docs/PROTOCOL.md).

What they do is in commands.py; the runtime in service.py, the deadlines in sweeper.py,
HTTP in routes.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat_server.crisis.cascade import RiskLevel
from chat_server.crisis.escalation import OUTCOMES, Screen, parse_screen
from chat_server.wire.protocol import (
    Command,
    ErrorCode,
    Fields,
    FrameSpec,
    ProtocolError,
    Role,
)

MAX_REASON = 500
LEVEL_NAMES = tuple(level.name for level in RiskLevel)

SUPERVISOR = frozenset({Role.SUPERVISOR})


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


# The crisis frames, added to the frame table by wiring (no registration on import).
FRAMES: dict[str, FrameSpec] = {
    "flag": FrameSpec(_flag, frozenset({Role.COUNSELOR})),
    "screen": FrameSpec(_screen, frozenset({Role.WORKER})),
    "ack": FrameSpec(_ack, SUPERVISOR),
    "watch": FrameSpec(_watch, SUPERVISOR),
    "whisper": FrameSpec(_whisper, SUPERVISOR),
    "join": FrameSpec(_join, SUPERVISOR),
    "set_level": FrameSpec(_set_level, SUPERVISOR),
    "resolve": FrameSpec(_resolve, SUPERVISOR),
}
