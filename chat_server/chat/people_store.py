"""The chat core's queries beyond conversations: names, seats, audit, live sessions."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class LastEnded:
    id: str
    by: str | None
    rated: bool


class PeopleStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def last_ended(self, worker_id: str, token_hash: bytes,
                         since: dt.datetime) -> LastEnded | None:
        """This session's conversation that ended since `since`, and whether it was rated."""
        row = await self.pool.fetchrow(
            "SELECT c.id, c.ended_by, r.conversation_id IS NOT NULL AS rated FROM conversations c"
            " LEFT JOIN ratings r ON r.conversation_id = c.id"
            " WHERE c.worker_id = $1 AND c.opened_by_session = $2 AND c.status = 'ended'"
            " AND c.ended_at > $3 ORDER BY c.ended_at DESC LIMIT 1",
            uuid.UUID(worker_id), token_hash, since)
        if row is None:
            return None
        return LastEnded(str(row["id"]), row["ended_by"], row["rated"])

    async def display_name(self, staff_id: str) -> str:
        return await self.pool.fetchval(
            "SELECT display_name FROM staff WHERE id = $1", uuid.UUID(staff_id)) or ""

    async def alias(self, conversation_id: str) -> str:
        """The name a counselor sees for the worker of this conversation."""
        alias: str = await self.pool.fetchval(
            "SELECT COALESCE(c.alias, w.alias) FROM conversations c"
            " JOIN workers w ON w.id = c.worker_id WHERE c.id = $1",
            uuid.UUID(conversation_id))
        return alias

    async def capacity(self, staff_id: str) -> int:
        return int(await self.pool.fetchval(
            "SELECT capacity FROM staff WHERE id = $1", uuid.UUID(staff_id)) or 1)

    async def set_capacity(self, staff_id: str, capacity: int) -> None:
        await self.pool.execute(
            "UPDATE staff SET capacity = $2 WHERE id = $1", uuid.UUID(staff_id), capacity)

    async def audit(self, staff_id: str | None, action: str, at: dt.datetime,
                    conversation_id: str | None = None, reason: str | None = None) -> None:
        await self.pool.execute(
            "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at)"
            " VALUES ($1, $2, $3, $4, $5)",
            uuid.UUID(staff_id) if staff_id else None, action,
            uuid.UUID(conversation_id) if conversation_id else None, reason, at)

    async def audit_read(self, staff_id: str, conversation_id: str, reason: str,
                         after_seq: int, at: dt.datetime) -> None:
        """Staff re-reading stored messages: a decryption of the transcript."""
        await self.pool.execute(
            "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, detail, at)"
            " VALUES ($1, 'read_transcript', $2, $3,"
            " jsonb_build_object('after_seq', $4::bigint), $5)",
            uuid.UUID(staff_id), uuid.UUID(conversation_id), reason, after_seq, at)

    async def live_sessions(self, hashes: list[bytes], now: dt.datetime) -> set[bytes]:
        """Of these session hashes, those neither expired nor revoked (nor disabled staff)."""
        rows = await self.pool.fetch(
            "SELECT s.token_hash FROM sessions s LEFT JOIN staff st ON st.id = s.staff_id"
            " WHERE s.token_hash = ANY($1::bytea[]) AND s.revoked_at IS NULL"
            " AND s.expires_at > $2 AND (s.staff_id IS NULL OR st.disabled_at IS NULL)",
            hashes, now)
        return {bytes(r["token_hash"]) for r in rows}
