"""The reads the node's upkeep loops sweep with: who serves, who is silent, who waits.

ConversationStore inherits these; they are apart because none of them changes a row and
each runs on a timer, off any message's path.
"""

from __future__ import annotations

import datetime as dt

import asyncpg


class UpkeepQueries:
    pool: asyncpg.Pool  # set by ConversationStore (through MessageLog's __init__)

    async def counselors_serving(self) -> list[str]:
        """Every counselor with an active conversation."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT counselor_id::text AS staff FROM conversations"
            " WHERE status = 'active' AND counselor_id IS NOT NULL"
        )
        return [r["staff"] for r in rows]

    async def active_to_sweep(self, present: list[str]) -> list[asyncpg.Record]:
        """Active conversations whose counselor is not in `present`, or marked away.

        With every counselor present that is none at all, instead of every active
        conversation every two seconds (1,000 rows decoded in one go held up messages).
        """
        return list(await self.pool.fetch(
            "SELECT id::text AS id, counselor_id::text AS counselor_id, counselor_away_at"
            " FROM conversations WHERE status = 'active'"
            " AND counselor_id IS NOT NULL"
            " AND (counselor_away_at IS NOT NULL OR NOT (counselor_id = ANY($1::uuid[])))",
            present,
        ))

    async def silent_since(self, before: dt.datetime) -> list[str]:
        """Active conversations matched before `before` with no message since then."""
        rows = await self.pool.fetch(
            "SELECT c.id::text AS id FROM conversations c WHERE c.status = 'active'"
            " AND c.matched_at < $1 AND NOT EXISTS (SELECT 1 FROM messages m"
            " WHERE m.conversation_id = c.id AND m.created_at >= $1)", before)
        return [r["id"] for r in rows]

    async def waiting(self) -> list[asyncpg.Record]:
        return list(await self.pool.fetch(
            "SELECT id, band, queued_at FROM conversations WHERE status = 'waiting'"
        ))

    async def seats_taken(self) -> dict[str, list[str]]:
        """Per counselor, the conversations holding a seat: active, or ended in wrap-up."""
        rows = await self.pool.fetch(
            "SELECT counselor_id::text AS staff, array_agg(id::text) AS ids FROM conversations"
            " WHERE counselor_id IS NOT NULL AND (status = 'active'"
            " OR (status = 'ended' AND seat_released_at IS NULL)) GROUP BY counselor_id")
        return {r["staff"]: list(r["ids"]) for r in rows}
