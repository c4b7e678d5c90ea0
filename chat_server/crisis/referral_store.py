"""The referral directory's seeds and the referrals made from escalations, in PostgreSQL.

EscalationStore inherits these: a referral is made from an escalation, in its store.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg

from chat_server.crisis.referrals import Resource, followups

if TYPE_CHECKING:
    from chat_server.crisis.store import Escalation


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


class ReferralLog:
    pool: asyncpg.Pool  # set by EscalationStore

    # ---- referral directory -----------------------------------------------------------

    async def seed_resources(self, resources: builtins.list[Resource], now: dt.datetime) -> None:
        for r in resources:
            await self.pool.execute(
                "INSERT INTO referral_resources (seed_key, name, phone, kind, hours, region,"
                " verify_before_launch, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (seed_key) DO NOTHING",
                r.key, r.name, r.phone, r.kind, r.hours, r.region, r.verify_before_launch, now)

    async def resources(self, include_disabled: bool = False) -> builtins.list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT id, name, phone, kind, hours, region, verify_before_launch, disabled_at"
            " FROM referral_resources WHERE $1 OR disabled_at IS NULL ORDER BY created_at, name",
            include_disabled)
        return [_resource(r) for r in rows]

    async def resource(self, resource_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT id, name, phone, kind, hours, region, verify_before_launch, disabled_at"
            " FROM referral_resources WHERE id = $1", uuid.UUID(resource_id))
        return _resource(row) if row else None

    async def add_resource(self, name: str, phone: str, kind: str, hours: str, region: str,
                           verify_before_launch: bool, now: dt.datetime) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            "INSERT INTO referral_resources (name, phone, kind, hours, region,"
            " verify_before_launch, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " RETURNING id, name, phone, kind, hours, region, verify_before_launch, disabled_at",
            name, phone, kind, hours, region, verify_before_launch, now)
        return _resource(row)

    # ---- referrals --------------------------------------------------------------------

    async def create_referral(self, escalation: Escalation, resource_id: str, staff_id: str,
                              message_seq: int | None, now: dt.datetime) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            rid = await conn.fetchval(
                "INSERT INTO referrals (escalation_id, conversation_id, resource_id, created_by,"
                " status, message_seq, created_at) VALUES ($1, $2, $3, $4, 'proposed', $5, $6)"
                " RETURNING id", uuid.UUID(escalation.id), uuid.UUID(escalation.conversation_id),
                uuid.UUID(resource_id), uuid.UUID(staff_id), message_seq, now)
            for label, due in followups(now):
                await conn.execute(
                    "INSERT INTO referral_followups (referral_id, due_at, label)"
                    " VALUES ($1, $2, $3)", rid, due, label)
            await conn.execute(
                "INSERT INTO audit_log (at, actor_staff_id, action, conversation_id,"
                " escalation_id, detail) VALUES ($1, $2, 'referral_proposed', $3, $4, $5)",
                now, uuid.UUID(staff_id), uuid.UUID(escalation.conversation_id),
                uuid.UUID(escalation.id), json.dumps({"referral_id": str(rid)}))
        got = await self.referral(str(rid))
        assert got is not None
        return got

    async def referral(self, referral_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT r.*, c.counselor_id, s.name AS resource_name FROM referrals r"
            " JOIN conversations c ON c.id = r.conversation_id"
            " JOIN referral_resources s ON s.id = r.resource_id WHERE r.id = $1",
            uuid.UUID(referral_id))
        return _referral(row) if row else None

    async def move_referral(self, referral_id: str, current: str, new: str, staff_id: str,
                            now: dt.datetime) -> dict[str, Any] | None:
        """Conditional on the status read, so two concurrent changes cannot both apply."""
        if new not in ("accepted", "declined", "contacted", "completed"):
            # The column name below is built from it: only known statuses may reach SQL.
            raise ValueError(f"unknown referral status {new!r}")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE referrals SET status = $3, {new}_at = $4"
                " WHERE id = $1 AND status = $2 RETURNING conversation_id, escalation_id",
                uuid.UUID(referral_id), current, new, now)
            if row is None:
                return None
            if new in ("declined", "completed"):
                # Closed: follow-ups still pending are no longer due.
                await conn.execute(
                    "UPDATE referral_followups SET done_at = $2, done_by = $3"
                    " WHERE referral_id = $1 AND done_at IS NULL",
                    uuid.UUID(referral_id), now, uuid.UUID(staff_id))
            await conn.execute(
                "INSERT INTO audit_log (at, actor_staff_id, action, conversation_id,"
                " escalation_id, detail) VALUES ($1, $2, 'referral_status', $3, $4, $5)",
                now, uuid.UUID(staff_id), row["conversation_id"], row["escalation_id"],
                json.dumps({"referral_id": referral_id, "status": new}))
        return await self.referral(referral_id)

    async def followups_due(self, before: dt.datetime) -> builtins.list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT f.id, f.referral_id, f.label, f.due_at, r.status, r.conversation_id,"
            " r.escalation_id, s.name AS resource_name FROM referral_followups f"
            " JOIN referrals r ON r.id = f.referral_id"
            " JOIN referral_resources s ON s.id = r.resource_id"
            " WHERE f.done_at IS NULL AND f.due_at < $1 ORDER BY f.due_at", before)
        return [{"id": r["id"], "referral_id": str(r["referral_id"]), "label": r["label"],
                 "due_at": _iso(r["due_at"]), "referral_status": r["status"],
                 "conversation_id": str(r["conversation_id"]),
                 "escalation_id": str(r["escalation_id"]), "resource": r["resource_name"]}
                for r in rows]


async def mark_followup_done(pool: asyncpg.Pool, followup_id: int, staff_id: str,
                             now: dt.datetime) -> bool:
    """Close a follow-up once (with who and when, audited); False if unknown or done."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE referral_followups f SET done_at = $3, done_by = $2 FROM referrals r"
            " WHERE f.id = $1 AND f.done_at IS NULL AND r.id = f.referral_id"
            " RETURNING r.conversation_id, r.escalation_id, f.label",
            followup_id, uuid.UUID(staff_id), now)
        if row is None:
            return False
        await conn.execute(
            "INSERT INTO audit_log (at, actor_staff_id, action, conversation_id, escalation_id,"
            " detail) VALUES ($1, $2, 'followup_done', $3, $4, $5)",
            now, uuid.UUID(staff_id), row["conversation_id"], row["escalation_id"],
            json.dumps({"followup_id": followup_id, "label": row["label"]}))
    return True


def _resource(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(r["id"]), "name": r["name"], "phone": r["phone"], "kind": r["kind"],
            "hours": r["hours"], "region": r["region"],
            "verify_before_launch": r["verify_before_launch"],
            "disabled": r["disabled_at"] is not None}


def _referral(r: asyncpg.Record) -> dict[str, Any]:
    out = {"id": str(r["id"]), "escalation_id": str(r["escalation_id"]),
           "conversation_id": str(r["conversation_id"]), "resource_id": str(r["resource_id"]),
           "resource": r["resource_name"], "status": r["status"],
           "message_seq": r["message_seq"], "created_at": _iso(r["created_at"])}
    for name in ("accepted", "declined", "contacted", "completed"):
        out[f"{name}_at"] = _iso(r[f"{name}_at"])
    out["counselor_id"] = str(r["counselor_id"]) if r["counselor_id"] else None
    return out
