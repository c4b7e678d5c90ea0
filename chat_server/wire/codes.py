"""Who may speak, what can go wrong, and how a socket is closed: the protocol's vocabulary.

Every code here is documented in docs/PROTOCOL.md (tests/wire/test_protocol_docs.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from chat_server.wire.frames import Error
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
        # Fields the error frame carries beside code and message (field, retry_after_ms…).
        self.extra = extra

    def to_frame(self, ref: str | None = None) -> Error:
        return Error(str(self.code), self.message, extra=self.extra, ref=ref)

    def frame(self, ref: str | None = None) -> dict[str, Any]:
        return self.to_frame(ref).to_wire()


@dataclass(frozen=True, slots=True)
class Limits:
    max_text_chars: int = 2000
    max_ref_chars: int = 64
