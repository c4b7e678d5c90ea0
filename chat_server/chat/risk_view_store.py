"""What a counselor must know of a conversation's risk when it appears on the console:
the true current level, the pre-chat screen, the open escalation, and the hand-over point.

The chat core imports nothing of crisis/; it reads the crisis tables here, as rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

# Level names by their stored number (crisis.levels.RiskLevel; the wire sends names).
LEVELS = ("none", "watch", "high", "imminent")
# A positive PHQ-9 item 9 opens an escalation at high (crisis/commands.py, `screen`).
SCREEN_POSITIVE_LEVEL = 2


@dataclass(frozen=True, slots=True)
class RiskView:
    level: int
    screen: dict[str, Any] | None
    escalation: dict[str, Any] | None
    # Counselor messages up to this seq were written by another counselor (a hand-over).
    handover_seq: int | None

    def fields(self) -> dict[str, Any]:
        return {"risk_level": LEVELS[max(0, min(self.level, len(LEVELS) - 1))],
                "screen": self.screen, "escalation": self.escalation,
                "handover_seq": self.handover_seq}


def risk_view_of(row: asyncpg.Record | None) -> RiskView:
    if row is None:
        return RiskView(0, None, None, None)
    level = row["risk_level"] or 0
    screen = None
    if row["phq9_9"] is not None:
        positive = row["phq9_9"] > 0
        screen = {"phq2_1": row["phq2_1"], "phq2_2": row["phq2_2"], "phq9_9": row["phq9_9"],
                  "phq2": row["phq2_1"] + row["phq2_2"], "item9_positive": positive}
        if positive:
            level = max(level, SCREEN_POSITIVE_LEVEL)
    escalation = None
    if row["esc_id"] is not None:
        level = max(level, row["esc_level"])
        escalation = {"id": str(row["esc_id"]), "status": row["esc_status"],
                      "level": LEVELS[row["esc_level"]], "reasons": list(row["esc_reasons"]),
                      "realerted": row["realerted"]}
    return RiskView(level, screen, escalation, row["handover_seq"])


class RiskViewStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def risk_view(self, conversation_id: str) -> RiskView:
        """Max of the stored level, the open escalation's and the screen's (one query)."""
        row = await self.pool.fetchrow(
            "SELECT c.risk_level, s.phq2_1, s.phq2_2, s.phq9_9, e.id AS esc_id,"
            " e.level AS esc_level, e.status AS esc_status, e.reasons AS esc_reasons,"
            " e.realerted_at IS NOT NULL AS realerted,"
            " (SELECT max(m.seq) FROM messages m WHERE m.conversation_id = c.id"
            "  AND m.sender_role = 'counselor'"
            "  AND m.sender_staff_id IS DISTINCT FROM c.counselor_id) AS handover_seq"
            " FROM conversations c"
            " LEFT JOIN screenings s ON s.conversation_id = c.id"
            " LEFT JOIN escalations e ON e.conversation_id = c.id"
            "  AND e.status IN ('open', 'acknowledged')"
            " WHERE c.id = $1", uuid.UUID(conversation_id))
        return risk_view_of(row)
