"""The referral directory in PostgreSQL: what the directory page and `yizhan referrals` read
and change. Every change the page makes is audited in the same transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

COLUMNS = ("id, name, phone, kind, hours, region, verify_before_launch, disabled_at,"
           " last_verified_at, created_at")
EDITABLE = ("name", "phone", "kind", "hours", "region")


class DirectoryStore:
    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        # A node passes its pool; an admin verb its one connection.
        self._db = db

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        if isinstance(self._db, asyncpg.Pool):
            async with self._db.acquire() as conn, conn.transaction():
                yield conn
        else:
            async with self._db.transaction():
                yield self._db

    async def entries(self) -> list[asyncpg.Record]:
        return list(await self._db.fetch(f"SELECT {COLUMNS} FROM referral_resources"
                                         " ORDER BY disabled_at IS NOT NULL, region, name"))

    async def add(self, fields: dict[str, Any], actor: str, now: dt.datetime) -> asyncpg.Record:
        """An entry from the page: whoever adds it has just looked it up, so it counts as
        verified today."""
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                "INSERT INTO referral_resources (name, phone, kind, hours, region,"
                " verify_before_launch, last_verified_at, verified_by, created_at)"
                f" VALUES ($1, $2, $3, $4, $5, false, $6, $7, $6) RETURNING {COLUMNS}",
                fields["name"], fields["phone"], fields["kind"], fields.get("hours", ""),
                fields.get("region", ""), now, uuid.UUID(actor))
            await _audit(conn, actor, "directory_added", row["id"], now)
        return row

    async def edit(self, rid: uuid.UUID, fields: dict[str, Any], actor: str,
                   now: dt.datetime) -> asyncpg.Record | None:
        """Change the given fields (and `disabled`); None when there is no such entry."""
        async with self._transaction() as conn:
            if await conn.fetchval("SELECT 1 FROM referral_resources WHERE id = $1 FOR UPDATE",
                                   rid) is None:
                return None
            for column in EDITABLE:
                if column in fields:
                    # The column name comes from EDITABLE, never from the request.
                    await conn.execute(
                        f"UPDATE referral_resources SET {column} = $2 WHERE id = $1",
                        rid, fields[column])
            if "disabled" in fields:
                await conn.execute(
                    "UPDATE referral_resources SET disabled_at = CASE WHEN $2"
                    " THEN COALESCE(disabled_at, $3) END WHERE id = $1",
                    rid, fields["disabled"], now)
            await _audit(conn, actor, "directory_edited", rid, now)
            return await conn.fetchrow(
                f"SELECT {COLUMNS} FROM referral_resources WHERE id = $1", rid)

    async def verified(self, rid: uuid.UUID, actor: str,
                       now: dt.datetime) -> asyncpg.Record | None:
        """Someone rang the number and checked the hours today; None: no such entry."""
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                "UPDATE referral_resources SET last_verified_at = $2, verified_by = $3,"
                f" verify_before_launch = false WHERE id = $1 RETURNING {COLUMNS}",
                rid, now, uuid.UUID(actor))
            if row is not None:
                await _audit(conn, actor, "directory_verified", rid, now)
        return row

    # ---- the command line: no actor, no audit row (the shell's own log records it) ------

    async def listing(self, include_disabled: bool) -> list[asyncpg.Record]:
        return list(await self._db.fetch(
            "SELECT id, name, phone, kind, hours, verify_before_launch AS unverified,"
            " disabled_at IS NOT NULL AS off FROM referral_resources"
            " WHERE $1 OR disabled_at IS NULL ORDER BY created_at, name", include_disabled))

    async def add_from_cli(self, name: str, phone: str, kind: str, hours: str, region: str,
                           verified: bool, now: dt.datetime) -> uuid.UUID:
        rid: uuid.UUID = await self._db.fetchval(
            "INSERT INTO referral_resources (name, phone, kind, hours, region,"
            " verify_before_launch, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " RETURNING id", name, phone, kind, hours, region, not verified, now)
        return rid

    async def disable(self, rid: uuid.UUID, now: dt.datetime) -> bool:
        return bool(await self._db.fetchval(
            "UPDATE referral_resources SET disabled_at = COALESCE(disabled_at, $2)"
            " WHERE id = $1 RETURNING 1", rid, now))


async def _audit(conn: asyncpg.Connection, actor: str, action: str, rid: uuid.UUID,
                 now: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_staff_id, action, reason, at, detail)"
        " VALUES ($1, $2, 'referral directory', $3, $4)", uuid.UUID(actor), action, now,
        json.dumps({"resource_id": str(rid)}))
