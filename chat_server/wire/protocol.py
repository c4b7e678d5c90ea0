"""The WebSocket protocol without I/O: frame parsing, limits, delivery order, rate limits.

The endpoint feeds raw frames in and gets typed commands or ProtocolError out; nothing here
awaits, reads a clock or touches a store, so every rule is tested by feeding inputs.
The declarations live beside it: client frames in `commands`, server frames in `frames`,
node events in `events`, codes in `codes`; this module names them for its callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chat_server.wire import codec as wire
from chat_server.wire.codes import (
    ALL_ROLES,
    STAFF_ROLES,
    CloseCode,
    ErrorCode,
    Limits,
    ProtocolError,
    Role,
)
from chat_server.wire.commands import (
    FRAMES,
    Capacity,
    Command,
    Duty,
    End,
    Fields,
    FrameSpec,
    LeaveQueue,
    Parser,
    Ping,
    Read,
    RequestChat,
    Send,
    Sync,
    Typing,
)

__all__ = [
    "ALL_ROLES", "FLOOD_STRIKES", "FRAMES", "STAFF_ROLES", "Capacity", "CloseCode", "Command",
    "Duty", "End", "ErrorCode", "Fields", "FrameSpec", "LeaveQueue", "Limits", "Parser",
    "Ping", "ProtocolError", "Read", "RequestChat", "Role", "Send", "Sync", "TokenBucket",
    "Typing", "decode", "parse", "read_ref",
]


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
    `frames`: the table to parse by (the node's is `FRAMES`)."""
    ref = read_ref(data, limits)
    kind = data.get("type")
    spec = frames.get(kind) if isinstance(kind, str) else None
    if spec is None or role not in spec.roles:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "unknown frame type for your role")
    return spec.parse(Fields(data, limits), ref), spec


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
