"""Each message's risk level, kept for the context rule and the sweep that re-assesses.

EscalationStore inherits these; they are the rows the assessment writes per message,
apart from escalations, which are opened only when a level calls for one.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid

import asyncpg

from chat_server.crisis.levels import RiskLevel


class LevelLog:
    pool: asyncpg.Pool  # set by EscalationStore

    async def recent_levels(self, conversation_id: str, before_seq: int, n: int = 4,
                            ) -> builtins.list[RiskLevel]:
        rows = await self.pool.fetch(
            "SELECT level FROM message_risk WHERE conversation_id = $1 AND seq < $2"
            " ORDER BY seq DESC LIMIT $3", uuid.UUID(conversation_id), before_seq, n)
        return [RiskLevel(r["level"]) for r in reversed(rows)]

    async def record_level(self, conversation_id: str, seq: int, level: RiskLevel,
                           rule_ids: tuple[str, ...], now: dt.datetime) -> None:
        await self.pool.execute(
            "INSERT INTO message_risk (conversation_id, seq, level, rule_ids, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            uuid.UUID(conversation_id), seq, int(level), list(rule_ids), now)

    async def settle_levels(self, rows: builtins.list[tuple[str, int, RiskLevel, tuple[str, ...]]],
                            ) -> builtins.list[asyncpg.Record]:
        """Record the learned stage's levels on pending rows; returns those it settled at
        watch or above (the rest need nothing more).

        The stored level is the rules' floor, so a level only rises; a row raised to high
        becomes unhandled (the sweeper's outbox) until its escalation is opened. A row the
        sweeper already took back is not pending and is left to it."""
        # Ids go as text (asyncpg encodes them in C) and only rows to act on come back: at
        # saturation a round is hundreds of calm messages (docs/BENCHMARKS.md).
        async with self.pool.acquire() as conn, conn.transaction():
            # Not waiting for the WAL flush: a settle lost in a PostgreSQL crash leaves its
            # rows pending, at the rules' level, and the sweeper assesses them again (the
            # level only rises, an open escalation is not opened twice). Waiting made every
            # round queue behind the messages' own commits.
            await conn.execute("SET LOCAL synchronous_commit TO off")
            return await self._settle(conn, rows)

    @staticmethod
    async def _settle(conn: asyncpg.Connection,
                      rows: builtins.list[tuple[str, int, RiskLevel, tuple[str, ...]]],
                      ) -> builtins.list[asyncpg.Record]:
        return list(await conn.fetch(
            "WITH u AS (UPDATE message_risk m SET level = GREATEST(m.level, x.l),"
            " pending = false,"
            " rule_ids = CASE WHEN x.ids = '' THEN m.rule_ids ELSE string_to_array(x.ids, ',')"
            " END, handled_at = CASE WHEN x.l >= 2 AND m.level < 2 THEN NULL"
            " ELSE m.handled_at END"
            " FROM unnest($1::text[]::uuid[], $2::bigint[], $3::int[], $4::text[])"
            " AS x(c, s, l, ids)"
            " WHERE m.conversation_id = x.c AND m.seq = x.s AND m.pending"
            " RETURNING m.conversation_id, m.seq, m.level, m.rule_ids)"
            " SELECT * FROM u WHERE level >= 1",
            [r[0] for r in rows], [r[1] for r in rows], [int(r[2]) for r in rows],
            [",".join(r[3]) for r in rows]))

    async def lease_pending(self, older_than_s: float, now: dt.datetime,
                            limit: int = 100) -> builtins.list[asyncpg.Record]:
        """Pending rows no stage settled within `older_than_s` (their node died or lagged).

        Leased by moving created_at to `now`, so another node's sweep leaves them alone
        for as long again; they stay pending, and the stage that reads them settles them."""
        return list(await self.pool.fetch(
            "UPDATE message_risk m SET created_at = $3 FROM (SELECT conversation_id, seq"
            " FROM message_risk WHERE pending AND created_at < $1 ORDER BY created_at"
            " LIMIT $2 FOR UPDATE SKIP LOCKED) AS due"
            " WHERE m.conversation_id = due.conversation_id AND m.seq = due.seq"
            " RETURNING m.conversation_id, m.seq",
            now - dt.timedelta(seconds=older_than_s), limit, now))

    async def mark_risk_handled(self, conversation_id: str, seq: int, now: dt.datetime) -> None:
        await self.pool.execute(
            "UPDATE message_risk SET handled_at = $3 WHERE conversation_id = $1 AND seq = $2"
            " AND handled_at IS NULL", uuid.UUID(conversation_id), seq, now)

    async def claim_unhandled_risk(self, older_than_s: float, now: dt.datetime,
                                   limit: int = 50) -> builtins.list[asyncpg.Record]:
        """High-risk rows still unhandled after `older_than_s`, marked handled atomically
        so only one node acts on each (unclaim_risk gives one back if that fails)."""
        return list(await self.pool.fetch(
            "UPDATE message_risk m SET handled_at = $3 FROM (SELECT conversation_id, seq"
            " FROM message_risk WHERE handled_at IS NULL AND level >= 2"
            " AND created_at < $1 ORDER BY created_at"
            " LIMIT $2 FOR UPDATE SKIP LOCKED) AS due"
            " WHERE m.conversation_id = due.conversation_id AND m.seq = due.seq"
            " RETURNING m.conversation_id, m.seq, m.level, m.rule_ids",
            now - dt.timedelta(seconds=older_than_s), limit, now))

    async def unclaim_risk(self, conversation_id: str, seq: int) -> None:
        await self.pool.execute(
            "UPDATE message_risk SET handled_at = NULL WHERE conversation_id = $1 AND seq = $2",
            uuid.UUID(conversation_id), seq)

    async def raise_conversation_level(self, conversation_id: str, level: RiskLevel,
                                       force: bool = False) -> bool:
        """Set the conversation's badge level; only upwards unless a supervisor forces it."""
        changed = await self.pool.fetchval(
            "UPDATE conversations SET risk_level = $2 WHERE id = $1"
            " AND (risk_level < $2 OR ($3 AND risk_level <> $2)) RETURNING 1",
            uuid.UUID(conversation_id), int(level), force)
        return bool(changed)
