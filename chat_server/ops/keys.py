"""Key operations against PostgreSQL: rewrap data keys, check retirement, shred.

Only data keys are ever unwrapped here; no message, note or comment is decrypted. Each
batch is one transaction, so an interrupted rotation resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from crypto.envelope import rewrap
from crypto.keyring import KeyRing, WrappedKey
from yizhan_errors import YizhanError

DEFAULT_BATCH = 500

# Called after each committed batch with (rewrapped in that batch, rewrapped so far).
BatchCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class KekUsage:
    kek_version: int
    live: int  # data keys still wrapped under this version
    shredded: int  # rows whose wrapped key was destroyed


async def rewrap_all(
    conn: asyncpg.Connection,
    ring: KeyRing,
    *,
    batch: int = DEFAULT_BATCH,
    on_batch: BatchCallback | None = None,
) -> int:
    """Rewrap every live data key not under the ring's active KEK; returns how many."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    target = ring.active_kek_version
    done = 0
    while True:
        async with conn.transaction():
            # FOR UPDATE: a node appending a message holds the row only briefly; waiting
            # for it is simpler than skipping rows and looping back for them.
            rows = await conn.fetch(
                "SELECT id, kek_version, wrapped FROM data_keys"
                " WHERE wrapped IS NOT NULL AND kek_version <> $1"
                " ORDER BY id LIMIT $2 FOR UPDATE",
                target,
                batch,
            )
            if not rows:
                return done + await _rewrap_totp_secrets(conn, ring, target)
            updates = []
            for r in rows:
                new = rewrap(ring, WrappedKey(r["kek_version"], r["wrapped"]), target)
                updates.append((r["id"], new.kek_version, new.wrapped))
            await conn.executemany(
                "UPDATE data_keys SET kek_version = $2, wrapped = $3 WHERE id = $1",
                updates,
            )
        done += len(rows)
        if on_batch is not None:
            on_batch(len(rows), done)


async def _rewrap_totp_secrets(conn: asyncpg.Connection, ring: KeyRing, target: int) -> int:
    """Staff TOTP secrets are wrapped like data keys (chat_server/accounts/totp.py): rewrapped too,
    or retiring a KEK would lock every supervisor out of two-step sign-in."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT id, totp_kek_version, totp_secret FROM staff WHERE totp_secret IS NOT NULL"
            " AND totp_kek_version <> $1 FOR UPDATE", target)
        await conn.executemany(
            "UPDATE staff SET totp_kek_version = $2, totp_secret = $3 WHERE id = $1",
            [(r["id"], target, rewrap(ring, WrappedKey(r["totp_kek_version"],
                                                       r["totp_secret"]), target).wrapped)
             for r in rows])
    return len(rows)


async def usage(conn: asyncpg.Connection) -> list[KekUsage]:
    rows = await conn.fetch(
        "SELECT kek_version, count(*) FILTER (WHERE wrapped IS NOT NULL) AS live,"
        " count(*) FILTER (WHERE wrapped IS NULL) AS shredded"
        " FROM data_keys GROUP BY kek_version ORDER BY kek_version"
    )
    return [KekUsage(r["kek_version"], r["live"], r["shredded"]) for r in rows]


async def live_keys_under(conn: asyncpg.Connection, kek_version: int) -> int:
    count: int = await conn.fetchval(
        "SELECT (SELECT count(*) FROM data_keys WHERE kek_version = $1 AND wrapped IS NOT NULL)"
        " + (SELECT count(*) FROM staff WHERE totp_kek_version = $1 AND totp_secret IS NOT NULL)",
        kek_version,
    )
    return count


class ShredRefused(YizhanError):
    """The conversation cannot be shredded (unknown, or still open)."""


async def shred(conn: asyncpg.Connection, conversation_id: str, now: dt.datetime) -> bool:
    """Destroy a conversation's wrapped data key; False if it was already shredded.

    Messages, notes and comments stay in place but nothing can open them any more.
    Open conversations are refused: their participants are still writing with that key.
    """
    cid = uuid.UUID(conversation_id)
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT c.status, c.data_key_id, k.wrapped IS NULL AS gone FROM conversations c"
            " JOIN data_keys k ON k.id = c.data_key_id WHERE c.id = $1 FOR UPDATE",
            cid,
        )
        if row is None:
            raise ShredRefused("no such conversation")
        if row["status"] in ("waiting", "active"):
            raise ShredRefused("the conversation is still open; end it first")
        if row["gone"]:
            return False
        await conn.execute(
            "UPDATE data_keys SET wrapped = NULL, shredded_at = $2 WHERE id = $1",
            row["data_key_id"], now,
        )
        await conn.execute(
            "INSERT INTO audit_log (action, conversation_id, reason, at)"
            " VALUES ('shred', $1, $2, $3)",
            cid,
            "yizhan conversations shred",
            now,
        )
    return True
