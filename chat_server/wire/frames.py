"""Every frame the server sends, as a typed declaration with one encode path.

A frame is a frozen dataclass; `to_wire()` gives the JSON object the client receives:
`"type"` first, then one key per field. Three field kinds need a word: `sender` is sent
as `from` (a Python keyword), `ref` (the request's, on direct answers) and OPTIONAL
fields are left out while None, and a SPREAD field's mapping is merged in last
(features add keys to `welcome`, `queued` and `queue`; error frames carry `field`,
`retry_after_ms` …). docs/PROTOCOL.md documents every `TYPE` here
(tests/wire/test_protocol_docs.py).

Nested objects (a conversation, an escalation, the service status) stay mappings: they
come from stores and views as they are and are sent as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chat_server.wire.frame_base import FROM, OPTIONAL, SKIP, SPREAD, ServerFrame, nothing

__all__ = ["FROM", "OPTIONAL", "SERVER_FRAMES", "SKIP", "SPREAD", "ServerFrame"]


# ---- every connection ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Error(ServerFrame):
    TYPE = "error"
    code: str
    message: str
    extra: Mapping[str, Any] = field(default_factory=nothing, kw_only=True, metadata=SPREAD)


@dataclass(frozen=True, slots=True)
class Pong(ServerFrame):
    TYPE = "pong"
    at: str


@dataclass(frozen=True, slots=True)
class Ack(ServerFrame):
    """A `send` is stored (or was already: `duplicate`)."""

    TYPE = "ack"
    conversation_id: str
    client_id: str
    seq: int
    at: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Message(ServerFrame):
    """A stored message; `card` only on referral cards."""

    TYPE = "message"
    conversation_id: str
    seq: int
    sender: str = field(metadata=FROM)
    client_id: str
    kind: str
    text: str
    at: str
    card: Mapping[str, Any] | None = field(default=None, kw_only=True, metadata=OPTIONAL)


@dataclass(frozen=True, slots=True)
class Synced(ServerFrame):
    TYPE = "synced"
    conversation_id: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class Typing(ServerFrame):
    TYPE = "typing"
    conversation_id: str
    sender: str = field(metadata=FROM)


@dataclass(frozen=True, slots=True)
class Read(ServerFrame):
    TYPE = "read"
    conversation_id: str
    sender: str = field(metadata=FROM)
    seq: int


@dataclass(frozen=True, slots=True)
class Ended(ServerFrame):
    """`by` is None on the answer to the ender's own `end`."""

    TYPE = "ended"
    conversation_id: str
    by: str | None
    wrapup_until: str | None = field(default=None, kw_only=True, metadata=OPTIONAL)


# ---- workers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerWelcome(ServerFrame):
    TYPE = "welcome"
    alias: str
    history_access: bool
    conversation: Mapping[str, Any] | None
    last_ended: Mapping[str, Any] | None
    service: Mapping[str, Any]
    role: str = "worker"
    # Always false: a session cannot learn of conversations it may not read.
    open_elsewhere: bool = False


@dataclass(frozen=True, slots=True)
class Queued(ServerFrame):
    TYPE = "queued"
    conversation_id: str
    position: int | None
    estimated_wait_s: int | None
    handover: bool | None = field(default=None, kw_only=True, metadata=OPTIONAL)
    extra: Mapping[str, Any] = field(default_factory=nothing, kw_only=True, metadata=SPREAD)


@dataclass(frozen=True, slots=True)
class QueuePosition(ServerFrame):
    TYPE = "queue"
    conversation_id: str
    position: int | None
    estimated_wait_s: int | None
    extra: Mapping[str, Any] = field(default_factory=nothing, kw_only=True, metadata=SPREAD)


@dataclass(frozen=True, slots=True)
class Left(ServerFrame):
    TYPE = "left"
    conversation_id: str


@dataclass(frozen=True, slots=True)
class Matched(ServerFrame):
    TYPE = "matched"
    conversation_id: str
    counselor: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class CounselorAway(ServerFrame):
    TYPE = "counselor_away"
    conversation_id: str


@dataclass(frozen=True, slots=True)
class CounselorBack(ServerFrame):
    TYPE = "counselor_back"
    conversation_id: str


@dataclass(frozen=True, slots=True)
class ServiceClosed(ServerFrame):
    TYPE = "service_closed"
    conversation_id: str
    next_open: str
    hotlines: Sequence[Mapping[str, Any]]


# ---- staff ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffWelcome(ServerFrame):
    TYPE = "welcome"
    role: str
    staff: Mapping[str, Any]
    duty: Mapping[str, Any]
    conversations: Sequence[Mapping[str, Any]]
    queue: Mapping[str, Any]
    service: Mapping[str, Any]
    # What features add (a supervisor's `escalations`).
    extra: Mapping[str, Any] = field(default_factory=nothing, kw_only=True, metadata=SPREAD)


@dataclass(frozen=True, slots=True)
class Duty(ServerFrame):
    """The counselor's seat. Pushed frames also nest the same figures under `duty` (as
    `welcome.duty` has them); the direct answer to `duty`/`capacity` does not."""

    TYPE = "duty"
    on: bool
    load: int
    capacity: int
    draining: bool
    nested: bool = field(default=True, kw_only=True, metadata=SKIP)

    def to_wire(self) -> dict[str, Any]:
        out = ServerFrame.to_wire(self)
        if self.nested:
            out["duty"] = {"on": self.on, "load": self.load, "capacity": self.capacity,
                           "draining": self.draining}
        return out


@dataclass(frozen=True, slots=True)
class Assigned(ServerFrame):
    TYPE = "assigned"
    conversation: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HandedOver(ServerFrame):
    TYPE = "handed_over"
    conversation_id: str


@dataclass(frozen=True, slots=True)
class QueueStats(ServerFrame):
    TYPE = "queue_stats"
    length: int
    longest_wait_s: int


@dataclass(frozen=True, slots=True)
class WorkerAway(ServerFrame):
    TYPE = "worker_away"
    conversation_id: str
    away_since: str | None
    gone_at: str | None
    release_at: str | None


@dataclass(frozen=True, slots=True)
class WorkerBack(ServerFrame):
    TYPE = "worker_back"
    conversation_id: str


# ---- crisis ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Escalation(ServerFrame):
    TYPE = "escalation"
    escalation: Mapping[str, Any]
    opened: bool
    realert: bool
    no_supervisor: bool
    alert_to: Sequence[str] | None


@dataclass(frozen=True, slots=True)
class EscalationStatus(ServerFrame):
    """To the conversation's counselor only, on every change of its escalation."""

    TYPE = "escalation_status"
    conversation_id: str
    escalation_id: str
    status: str
    level: str
    reasons: Sequence[str]
    realerted: bool


@dataclass(frozen=True, slots=True)
class Risk(ServerFrame):
    TYPE = "risk"
    conversation_id: str
    level: str


@dataclass(frozen=True, slots=True)
class NoSupervisor(ServerFrame):
    TYPE = "no_supervisor"
    conversation_id: str
    escalation_id: str


@dataclass(frozen=True, slots=True)
class Hotlines(ServerFrame):
    TYPE = "hotlines"
    hotlines: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Flagged(ServerFrame):
    TYPE = "flagged"
    conversation_id: str
    escalation_id: str | None
    level: str


@dataclass(frozen=True, slots=True)
class Screened(ServerFrame):
    TYPE = "screened"
    conversation_id: str


@dataclass(frozen=True, slots=True)
class EscalationResult(ServerFrame):
    TYPE = "escalation_result"
    action: str
    escalation: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Watching(ServerFrame):
    TYPE = "watching"
    conversation_id: str
    last_seq: int
    status: str
    escalation: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Whisper(ServerFrame):
    TYPE = "whisper"
    id: int
    conversation_id: str
    sender: Mapping[str, Any] = field(metadata=FROM)
    text: str
    at: str


@dataclass(frozen=True, slots=True)
class Whispered(ServerFrame):
    TYPE = "whispered"
    id: int
    conversation_id: str


@dataclass(frozen=True, slots=True)
class SupervisorJoined(ServerFrame):
    TYPE = "supervisor_joined"
    conversation_id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Joined(ServerFrame):
    TYPE = "joined"
    conversation_id: str


# Every server frame class, for the docs check and for tests; a new frame is added here.
SERVER_FRAMES: tuple[type[ServerFrame], ...] = (
    Error, Pong, Ack, Message, Synced, Typing, Read, Ended,
    WorkerWelcome, Queued, QueuePosition, Left, Matched, CounselorAway, CounselorBack,
    ServiceClosed,
    StaffWelcome, Duty, Assigned, HandedOver, QueueStats, WorkerAway, WorkerBack,
    Escalation, EscalationStatus, Risk, NoSupervisor, Hotlines, Flagged, Screened,
    EscalationResult,
    Watching, Whisper, Whispered, SupervisorJoined, Joined,
)
