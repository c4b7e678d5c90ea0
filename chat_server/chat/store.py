"""Conversations and their encrypted messages in PostgreSQL, the system of record."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from chat_server.chat.messages import (
    _READ_SQL,
    Appended,
    MessageLog,
    NewMessage,
    NotActive,
    StoredMessage,
)
from chat_server.chat.upkeep_store import UpkeepQueries
from chat_server.wire.protocol import Role
from crypto.keyring import WrappedKey

if TYPE_CHECKING:
    from chat_server.accounts.sessions import Principal

# Names the rest of the code imports from here, though they live in chat/messages.py.
__all__ = ["_READ_SQL", "Appended", "Conversation", "ConversationStore", "NewMessage",
           "NotActive", "StoredMessage", "may_read"]

OPEN_STATUSES = ("waiting", "active")


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    worker_id: str
    status: str
    band: int
    counselor_id: str | None
    risk_level: int
    last_seq: int
    queued_at: dt.datetime
    matched_at: dt.datetime | None
    opened_by_session: bytes | None
    # The device credential (its hash) of the session that opened it: see may_read.
    opened_by_device: bytes | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Conversation:
        return cls(
            id=str(row["id"]),
            worker_id=str(row["worker_id"]),
            status=row["status"],
            band=row["band"],
            counselor_id=str(row["counselor_id"]) if row["counselor_id"] else None,
            risk_level=row["risk_level"],
            last_seq=row["last_seq"],
            queued_at=row["queued_at"],
            matched_at=row["matched_at"],
            opened_by_session=row["opened_by_session"],
            opened_by_device=row["opened_by_device"],
        )


_CONVERSATION_COLUMNS = (
    "id, worker_id, status, band, counselor_id, risk_level, last_seq, queued_at, matched_at,"
    " opened_by_session, opened_by_device"
)


class ConversationStore(MessageLog, UpkeepQueries):
    """Conversations: open, match, hand over, end. Their messages come from MessageLog,
    the upkeep loops' sweeping reads from UpkeepQueries."""


    async def open(self, worker_id: str, session_hash: bytes, device_hash: bytes | None,
                   band: int = 1, alias: str | None = None) -> Conversation:
        """A new waiting conversation with its own data key, shown to staff under the
        opening session's alias; raises UniqueViolation if this device has one open."""
        wrapped = self.vault.new_conversation_key()
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            key_id = await conn.fetchval(
                "INSERT INTO data_keys (kek_version, wrapped, created_at) VALUES ($1, $2, $3)"
                " RETURNING id",
                wrapped.kek_version,
                wrapped.wrapped,
                now,
            )
            row = await conn.fetchrow(
                "INSERT INTO conversations (worker_id, data_key_id, status, band,"
                " opened_by_session, opened_by_device, alias, queued_at, created_at)"
                " VALUES ($1, $2, 'waiting', $3, $4, $5, $7, $6, $6)"
                f" RETURNING {_CONVERSATION_COLUMNS}",
                uuid.UUID(worker_id),
                key_id,
                band,
                session_hash,
                device_hash,
                now,
                alias,
            )
        return Conversation.from_row(row)

    async def get(self, conversation_id: str) -> Conversation | None:
        row = await self.pool.fetchrow(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = $1",
            uuid.UUID(conversation_id),
        )
        return Conversation.from_row(row) if row else None

    async def open_for_session(self, worker_id: str, session_hash: bytes,
                               devices: Sequence[bytes]) -> Conversation | None:
        """The open conversation this worker session may read (see may_read), if any.

        Conversations of the same number opened from other devices are never returned:
        a session must not even learn that they exist.
        """
        row = await self.pool.fetchrow(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
            " WHERE worker_id = $1 AND status IN ('waiting', 'active')"
            " AND (opened_by_session = $2 OR opened_by_device = ANY($3::bytea[]))"
            " ORDER BY created_at DESC LIMIT 1",
            uuid.UUID(worker_id), session_hash, list(devices),
        )
        return Conversation.from_row(row) if row else None

    async def readable_by(self, worker_id: str, session_hash: bytes, devices: Sequence[bytes],
                          limit: int) -> list[asyncpg.Record]:
        """The newest conversations this worker session may read, with counselor names."""
        return list(await self.pool.fetch(
            "SELECT c.id, c.status, c.created_at, c.ended_at, s.display_name"
            " FROM conversations c LEFT JOIN staff s ON s.id = c.counselor_id"
            " WHERE c.worker_id = $1"
            " AND (c.opened_by_session = $2 OR c.opened_by_device = ANY($3::bytea[]))"
            # Shredded (deleted by the worker, or past retention): nothing left to read.
            " AND c.shredded_at IS NULL"
            " ORDER BY c.created_at DESC LIMIT $4",
            uuid.UUID(worker_id), session_hash, list(devices), limit,
        ))

    async def active_for_counselor(self, staff_id: str) -> list[Conversation]:
        rows = await self.pool.fetch(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
            " WHERE counselor_id = $1 AND status = 'active' ORDER BY matched_at",
            uuid.UUID(staff_id),
        )
        return [Conversation.from_row(r) for r in rows]

    async def matched_before(self, staff_ids: Sequence[str], seconds: float) -> list[Conversation]:
        """Active conversations of these counselors, matched more than `seconds` ago."""
        rows = await self.pool.fetch(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE status = 'active'"
            " AND counselor_id = ANY($1::uuid[])"
            " AND matched_at < $2",
            list(staff_ids), self.clock() - dt.timedelta(seconds=seconds),
        )
        return [Conversation.from_row(r) for r in rows]

    async def seat_load(self, staff_id: str) -> int:
        """Seats a counselor's conversations take: active ones and those still in wrap-up."""
        return int(await self.pool.fetchval(
            "SELECT count(*) FROM conversations WHERE counselor_id = $1 AND (status = 'active'"
            " OR (status = 'ended' AND seat_released_at IS NULL))",
            uuid.UUID(staff_id),
        ))

    async def release_seat(self, conversation_id: str) -> str | None:
        """Mark the seat of an ended conversation given back; the counselor's id, once only."""
        staff_id = await self.pool.fetchval(
            "UPDATE conversations SET seat_released_at = $2 WHERE id = $1"
            " AND status = 'ended' AND counselor_id IS NOT NULL AND seat_released_at IS NULL"
            " RETURNING counselor_id",
            uuid.UUID(conversation_id), self.clock(),
        )
        return str(staff_id) if staff_id else None

    async def release_wrapped_up(self, ended_before: dt.datetime) -> list[str]:
        """Give back seats whose wrap-up time ran out; one counselor id per seat."""
        rows = await self.pool.fetch(
            "UPDATE conversations SET seat_released_at = $2 WHERE status = 'ended'"
            " AND counselor_id IS NOT NULL AND seat_released_at IS NULL AND ended_at < $1"
            " RETURNING counselor_id",
            ended_before, self.clock(),
        )
        return [str(r["counselor_id"]) for r in rows]

    async def activate_named(
        self, conversation_id: str, counselor_id: str
    ) -> tuple[Conversation, str, str] | None:
        """activate(), also returning the counselor's display name and the worker's alias
        (what both sides are told), in the same round trip."""
        row = await self.pool.fetchrow(
            "WITH c AS (UPDATE conversations SET status = 'active', counselor_id = $2,"
            " matched_at = $3, counselor_away_at = NULL"
            " WHERE id = $1 AND status = 'waiting'"
            f" RETURNING {_CONVERSATION_COLUMNS})"
            " SELECT c.*, s.display_name, COALESCE(cv.alias, w.alias) AS alias"
            " FROM c JOIN staff s ON s.id = c.counselor_id"
            " JOIN conversations cv ON cv.id = c.id JOIN workers w ON w.id = c.worker_id",
            uuid.UUID(conversation_id),
            uuid.UUID(counselor_id),
            self.clock(),
        )
        if row is None:
            return None
        return Conversation.from_row(row), row["display_name"], row["alias"]

    async def end(self, conversation_id: str, by: str, *, release_seat: bool = False,
                  counselor_id: str | None = None) -> Conversation | None:
        """Close an open conversation; None if it was already closed (or, with
        `counselor_id`, if that counselor no longer serves it).

        `release_seat` gives an active conversation's seat back in the same commit (no
        wrap-up): the freed seat is what the next waiting worker is matched to, so one
        commit fewer is that much sooner. A waiting conversation becomes 'abandoned' and
        an active one 'ended' — the returned status says which it was.
        """
        row = await self.pool.fetchrow(
            "UPDATE conversations SET status = CASE WHEN status = 'waiting' THEN 'abandoned'"
            " ELSE 'ended' END, ended_at = $5, ended_by = $2,"
            " seat_released_at = CASE WHEN $3 AND status = 'active'"
            " AND counselor_id IS NOT NULL THEN $5 ELSE seat_released_at END"
            " WHERE id = $1 AND status IN ('waiting', 'active')"
            " AND ($4::uuid IS NULL OR counselor_id = $4)"
            f" RETURNING {_CONVERSATION_COLUMNS}",
            uuid.UUID(conversation_id),
            by,
            release_seat,
            uuid.UUID(counselor_id) if counselor_id else None,
            self.clock(),
        )
        self.written.forget(conversation_id)
        return Conversation.from_row(row) if row else None

    async def requeue(self, conversation_id: str, counselor_id: str) -> Conversation | None:
        """Hand an active conversation whose counselor vanished back to the queue."""
        self.written.forget(conversation_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE conversations SET status = 'waiting', counselor_id = NULL,"
                " matched_at = NULL, counselor_away_at = NULL"
                " WHERE id = $1 AND status = 'active' AND counselor_id = $2"
                f" RETURNING {_CONVERSATION_COLUMNS}",
                uuid.UUID(conversation_id),
                uuid.UUID(counselor_id),
            )
            if row:
                await conn.execute(
                    "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at)"
                    " VALUES ($1, 'handover_requeue', $2, 'counselor connection lost', $3)",
                    uuid.UUID(counselor_id),
                    uuid.UUID(conversation_id),
                    self.clock(),
                )
        return Conversation.from_row(row) if row else None

    async def mark_counselor_away(self, conversation_id: str, away: bool) -> bool:
        """Record (or clear) that the counselor is gone; True only for the one call that
        changed it, so that of several nodes sweeping at once one tells the worker."""
        if away:
            changed = await self.pool.fetchval(
                "UPDATE conversations SET counselor_away_at = $2"
                " WHERE id = $1 AND status = 'active' AND counselor_away_at IS NULL"
                " RETURNING id",
                uuid.UUID(conversation_id), self.clock(),
            )
        else:
            changed = await self.pool.fetchval(
                "UPDATE conversations SET counselor_away_at = NULL"
                " WHERE id = $1 AND counselor_away_at IS NOT NULL RETURNING id",
                uuid.UUID(conversation_id),
            )
        return changed is not None

    async def counselor_returned(self, staff_id: str) -> list[str]:
        """Clear the away mark of this counselor's active conversations; the ids cleared
        (each by one caller only)."""
        rows = await self.pool.fetch(
            "UPDATE conversations SET counselor_away_at = NULL WHERE counselor_id = $1"
            " AND status = 'active' AND counselor_away_at IS NOT NULL RETURNING id::text AS id",
            uuid.UUID(staff_id),
        )
        return [r["id"] for r in rows]

    async def wrapped_key(self, conversation_id: str) -> WrappedKey | None:
        row = await self.pool.fetchrow(
            "SELECT k.kek_version, k.wrapped FROM conversations c"
            " JOIN data_keys k ON k.id = c.data_key_id WHERE c.id = $1",
            uuid.UUID(conversation_id),
        )
        if row is None or row["wrapped"] is None:
            return None
        return WrappedKey(row["kek_version"], row["wrapped"])


def may_read(p: Principal, conv: Conversation) -> bool:
    """Whether a worker session may read (and act in) a conversation: the one place that says.

    The ID number proves nothing (HR, landlords and leaked lists have it): only a
    possession factor bound to the conversation opens it — the session that opened it,
    or a device credential the session holds (its own, or one a PIN opened).
    """
    if p.role is not Role.WORKER or conv.worker_id != p.id:
        return False
    return conv.opened_by_session == p.token_hash or (
        conv.opened_by_device is not None and conv.opened_by_device in p.devices)
