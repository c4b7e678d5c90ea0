"""What the supervisor's board reads from PostgreSQL: names, risk counts, ratings, referrals."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg


class BoardStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def display_names(self, staff_ids: Sequence[str]) -> dict[str, str]:
        if not staff_ids:
            return {}
        rows = await self.pool.fetch(
            "SELECT id::text, display_name FROM staff WHERE id = ANY($1::uuid[])",
            [uuid.UUID(s) for s in staff_ids])
        return {r["id"]: r["display_name"] for r in rows}

    async def active_by_risk(self) -> list[tuple[int, int]]:
        """(risk level, active conversations at it)."""
        rows = await self.pool.fetch(
            "SELECT risk_level, count(*) AS n FROM conversations WHERE status = 'active'"
            " GROUP BY risk_level")
        return [(r["risk_level"], r["n"]) for r in rows]

    async def weekly_ratings(self, since: dt.datetime, timezone: str,
                             low_score: int) -> list[asyncpg.Record]:
        """Per counselor and ISO week (in `timezone`): count, average, and scores ≤ low."""
        return list(await self.pool.fetch(
            "SELECT s.id::text AS id, s.display_name,"
            " to_char(r.created_at AT TIME ZONE $2, 'IYYY-\"W\"IW') AS week,"
            " count(*) AS n, avg(r.score)::float AS average,"
            " count(*) FILTER (WHERE r.score <= $3) AS low"
            " FROM ratings r JOIN staff s ON s.id = r.counselor_id"
            " WHERE r.created_at > $1"
            " GROUP BY s.id, s.display_name, week ORDER BY s.display_name, week",
            since, timezone, low_score))

    async def escalation_exists(self, escalation_id: str) -> tuple[bool, str | None]:
        """Whether the escalation exists, and its conversation's counselor."""
        row = await self.pool.fetchrow(
            "SELECT c.counselor_id::text AS counselor_id FROM escalations e"
            " JOIN conversations c ON c.id = e.conversation_id WHERE e.id = $1",
            uuid.UUID(escalation_id))
        return (False, None) if row is None else (True, row["counselor_id"])

    async def escalation_referrals(self, escalation_id: str) -> list[asyncpg.Record]:
        return list(await self.pool.fetch(
            "SELECT r.id::text AS id, r.status, r.created_at, s.name, s.kind, s.phone"
            " FROM referrals r JOIN referral_resources s ON s.id = r.resource_id"
            " WHERE r.escalation_id = $1 ORDER BY r.created_at", uuid.UUID(escalation_id)))
