"""Retention: conversations past the kept period are crypto-shredded by a daily job, and a
worker may shred their own history at once ("delete my history").

Shredding destroys the conversation's wrapped data key, so every ciphertext sealed with it
(messages, the case note, the rating comment, whispers, escalation notes) is unreadable
for good; the ciphertexts themselves are deleted too, so not even their bytes stay. The
conversation row stays, without content, so monthly figures still count it.

One node at a time: the job holds a PostgreSQL advisory lock while it runs, and a day's
run is recorded in the audit log, so the other nodes find it done.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.sessions import WORKER_COOKIE
from chat_server.accounts.staff_routes import staff_principal
from chat_server.chat.node import Node, NodeRef
from chat_server.chat.routes import principal
from chat_server.problems import Problem, check_origin, json_body, require_role

log = logging.getLogger("yizhan.retention")

# pg_advisory_lock key: any constant shared by every node ("yzretent" in ASCII).
LOCK_KEY = 0x797A726574656E74
CHECK_S = 600.0  # how often a node looks whether today's run is done
BATCH = 500


@dataclass(frozen=True, slots=True)
class Removed:
    conversations: int = 0
    messages: int = 0
    case_notes: int = 0
    rating_comments: int = 0
    whispers: int = 0

    def __add__(self, other: Removed) -> Removed:
        return Removed(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values(),
                                               strict=True)))


async def shred(conn: asyncpg.Connection, conversation_id: uuid.UUID, now: dt.datetime,
                action: str, actor: uuid.UUID | None = None) -> Removed:
    """Destroy one conversation's key and ciphertexts, audited; closed conversations only."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT status, data_key_id, shredded_at FROM conversations WHERE id = $1"
            " FOR UPDATE", conversation_id)
        if row is None or row["status"] in ("waiting", "active"):
            return Removed()
        await conn.execute(
            "UPDATE data_keys SET wrapped = NULL, shredded_at = COALESCE(shredded_at, $2)"
            " WHERE id = $1", row["data_key_id"], now)
        messages = await conn.fetchval(
            "WITH d AS (DELETE FROM messages WHERE conversation_id = $1 RETURNING 1)"
            " SELECT count(*) FROM d", conversation_id)
        notes = await conn.fetchval(
            "WITH u AS (UPDATE case_notes SET note_nonce = NULL, note_ciphertext = NULL"
            " WHERE conversation_id = $1 AND note_ciphertext IS NOT NULL RETURNING 1)"
            " SELECT count(*) FROM u", conversation_id)
        comments = await conn.fetchval(
            "WITH u AS (UPDATE ratings SET comment_nonce = NULL, comment_ciphertext = NULL"
            " WHERE conversation_id = $1 AND comment_ciphertext IS NOT NULL RETURNING 1)"
            " SELECT count(*) FROM u", conversation_id)
        whispers = await conn.fetchval(
            "WITH d AS (DELETE FROM whispers WHERE conversation_id = $1 RETURNING 1)"
            " SELECT count(*) FROM d", conversation_id)
        await conn.execute(
            "UPDATE escalation_events SET note_nonce = NULL, note_ciphertext = NULL"
            " WHERE escalation_id IN (SELECT id FROM escalations WHERE conversation_id = $1)",
            conversation_id)
        first = row["shredded_at"] is None
        await conn.execute(
            "UPDATE conversations SET shredded_at = COALESCE(shredded_at, $2),"
            " shred_reason = COALESCE(shred_reason, $3) WHERE id = $1",
            conversation_id, now, action)
        removed = Removed(int(first), messages, notes, comments, whispers)
        await conn.execute(
            "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6)", actor, action, conversation_id,
            "retention period passed" if action == "retention_shred" else "worker's request",
            now, json.dumps(asdict(removed)))
    return removed


def cutoff(now: dt.datetime, days: int) -> dt.datetime:
    return now - dt.timedelta(days=days)


async def due(conn: asyncpg.Connection, before: dt.datetime, limit: int = BATCH
              ) -> list[uuid.UUID]:
    """Closed, not yet shredded conversations that ended (or were left) before `before`."""
    rows = await conn.fetch(
        "SELECT id FROM conversations WHERE status IN ('ended', 'abandoned')"
        " AND shredded_at IS NULL AND COALESCE(ended_at, created_at) < $1"
        " ORDER BY created_at LIMIT $2", before, limit)
    return [r["id"] for r in rows]


async def run(pool: asyncpg.Pool, now: dt.datetime, days: int) -> Removed | None:
    """Shred everything past the period; None if another node holds the lock."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            return None
        try:
            total = Removed()
            before = cutoff(now, days)
            while batch := await due(conn, before):
                for cid in batch:
                    total += await shred(conn, cid, now, "retention_shred")
            await conn.execute(
                "INSERT INTO audit_log (action, reason, at, detail)"
                " VALUES ('retention_run', $1, $2, $3)", f"kept {days} days", now,
                json.dumps({**asdict(total), "cutoff": before.isoformat()}))
            return total
        finally:
            await conn.fetchval("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def last_run(pool: asyncpg.Pool) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT at, detail FROM audit_log WHERE action = 'retention_run'"
        " ORDER BY id DESC LIMIT 1")
    if row is None:
        return None
    return {"at": row["at"].isoformat(), **json.loads(row["detail"])}


class RetentionJob:
    """Runs once per local day on whichever node gets there first."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def tick(self) -> None:
        node = self.node
        now = node.now()
        tz = node.settings.tz
        midnight = dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tz)
        done = await node.services.pool.fetchval(
            "SELECT 1 FROM audit_log WHERE action = 'retention_run' AND at >= $1 LIMIT 1",
            midnight)
        if done:
            return
        removed = await run(node.services.pool, now, node.settings.retention_days)
        if removed is not None:
            log.info("retention run", extra={"fields": {"shredded": removed.conversations}})


# ---- HTTP ----------------------------------------------------------------------------


async def retention_status(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    await staff_principal(node, request, "admin")
    days = node.settings.retention_days
    return JSONResponse({"retention_days": days,
                         "cutoff": cutoff(node.now(), days).isoformat(),
                         "last_run": await last_run(node.services.pool)})


async def retention_run(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    await staff_principal(node, request, "admin")
    removed = await run(node.services.pool, node.now(), node.settings.retention_days)
    if removed is None:
        raise Problem(409, "conflict", "another node is running retention now")
    return JSONResponse({"removed": asdict(removed)})


async def worker_delete_history(node_of: NodeRef, request: Request) -> Response:
    """Shred every closed conversation of this worker, now. Needs history access."""
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    p = require_role(await principal(node, request, WORKER_COOKIE), "worker")
    if not p.history_access:
        raise Problem(403, "history_locked", "enter your PIN (or use your own phone) first")
    data = await json_body(request)
    if data.get("confirm") is not True:
        raise Problem(400, "bad_field", "confirm must be true", field="confirm")
    if await node.conversations.open_for_session(p.id, p.token_hash, p.devices) is not None:
        raise Problem(409, "conversation_open", "end the open conversation first")
    now = node.now()
    total = Removed()
    async with node.services.pool.acquire() as conn:
        # Only what this session may read (conversations.may_read): the ID number alone
        # opens nothing, so it deletes nothing either.
        ids = await conn.fetch(
            "SELECT id FROM conversations WHERE worker_id = $1 AND shredded_at IS NULL"
            " AND status IN ('ended', 'abandoned')"
            " AND (opened_by_session = $2 OR opened_by_device = ANY($3::bytea[]))",
            uuid.UUID(p.id), p.token_hash, list(p.devices))
        for r in ids:
            total += await shred(conn, r["id"], now, "worker_deleted_history")
    return JSONResponse({"removed": asdict(total)})


def routes(node: NodeRef) -> list[BaseRoute]:
    return [
        Route("/api/retention", partial(retention_status, node)),
        Route("/api/retention/run", partial(retention_run, node), methods=["POST"]),
        Route("/api/worker/history/delete", partial(worker_delete_history, node),
              methods=["POST"]),
    ]
