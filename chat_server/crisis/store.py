"""Escalations, referrals and their audit trail in PostgreSQL, the record (deadlines included).

Every state change is a conditional UPDATE, so two nodes (or two supervisors) racing on
one escalation cannot both win. Times come from the caller's clock (`now`), never now().
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from chat_server.crisis.cascade import RiskLevel
from chat_server.crisis.escalation import (
    Deadlines,
    Source,
    Status,
    raise_level,
    set_level_deadline,
)
from chat_server.crisis.referrals import Resource, followups
from chat_server.vault import seal_text
from crypto.envelope import Vault
from crypto.keyring import WrappedKey

_COLUMNS = (
    "e.id, e.conversation_id, e.level, e.status, e.source, e.reasons, e.opened_at,"
    " e.ack_deadline, e.realerted_at, e.owner_staff_id, e.acked_at, e.resolved_at, e.outcome,"
    " o.display_name AS owner_name, c.counselor_id, cs.display_name AS counselor_name,"
    " COALESCE(c.alias, w.alias) AS alias"
)
_FROM = (
    " FROM escalations e JOIN conversations c ON c.id = e.conversation_id"
    " JOIN workers w ON w.id = c.worker_id"
    " LEFT JOIN staff o ON o.id = e.owner_staff_id"
    " LEFT JOIN staff cs ON cs.id = c.counselor_id"
)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class Escalation:
    id: str
    conversation_id: str
    level: RiskLevel
    status: Status
    source: str
    reasons: tuple[str, ...]
    opened_at: dt.datetime
    ack_deadline: dt.datetime
    realerted_at: dt.datetime | None
    owner_id: str | None
    owner_name: str | None
    counselor_id: str | None
    counselor_name: str | None
    alias: str
    outcome: str | None

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Escalation:
        return cls(
            id=str(r["id"]), conversation_id=str(r["conversation_id"]),
            level=RiskLevel(r["level"]), status=Status(r["status"]), source=r["source"],
            reasons=tuple(r["reasons"]), opened_at=r["opened_at"],
            ack_deadline=r["ack_deadline"], realerted_at=r["realerted_at"],
            owner_id=str(r["owner_staff_id"]) if r["owner_staff_id"] else None,
            owner_name=r["owner_name"],
            counselor_id=str(r["counselor_id"]) if r["counselor_id"] else None,
            counselor_name=r["counselor_name"], alias=r["alias"], outcome=r["outcome"],
        )

    def view(self) -> dict[str, Any]:
        """The staff form (never sent to a worker: it carries the level and rule ids)."""
        return {
            "id": self.id, "conversation_id": self.conversation_id, "level": self.level.name,
            "status": str(self.status), "source": self.source, "reasons": list(self.reasons),
            "opened_at": _iso(self.opened_at), "ack_deadline": _iso(self.ack_deadline),
            "realerted": self.realerted_at is not None,
            "owner": {"id": self.owner_id, "display_name": self.owner_name}
            if self.owner_id else None,
            "counselor": {"id": self.counselor_id, "display_name": self.counselor_name}
            if self.counselor_id else None,
            "alias": self.alias, "outcome": self.outcome,
        }


@dataclass(frozen=True, slots=True)
class Signal:
    """The result of recording a signal: the escalation now, and what changed."""

    escalation: Escalation
    opened: bool
    raised: bool


class EscalationStore:
    def __init__(self, pool: asyncpg.Pool, vault: Vault, deadlines: Deadlines) -> None:
        self.pool = pool
        self.vault = vault
        self.deadlines = deadlines

    # ---- reading ----------------------------------------------------------------------

    async def get(self, escalation_id: str, conn: Any = None) -> Escalation | None:
        row = await (conn or self.pool).fetchrow(
            f"SELECT {_COLUMNS}{_FROM} WHERE e.id = $1", uuid.UUID(escalation_id))
        return Escalation.from_row(row) if row else None

    async def open_for(self, conversation_id: str, conn: Any = None) -> Escalation | None:
        row = await (conn or self.pool).fetchrow(
            f"SELECT {_COLUMNS}{_FROM} WHERE e.conversation_id = $1"
            " AND e.status IN ('open', 'acknowledged')", uuid.UUID(conversation_id))
        return Escalation.from_row(row) if row else None

    async def list(self, statuses: tuple[str, ...], counselor_id: str | None = None,
                   limit: int = 200) -> builtins.list[Escalation]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS}{_FROM} WHERE e.status = ANY($1::text[])"
            " AND ($2::uuid IS NULL OR c.counselor_id = $2)"
            " ORDER BY e.level DESC, e.opened_at LIMIT $3",
            list(statuses), uuid.UUID(counselor_id) if counselor_id else None, limit)
        return [Escalation.from_row(r) for r in rows]

    # ---- message levels (for the context rule) ----------------------------------------

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
        """Record the learned stage's levels on pending rows; returns the rows it settled.

        The stored level is the rules' floor, so a level only rises; a row raised to high
        becomes unhandled (the sweeper's outbox) until its escalation is opened. A row the
        sweeper already took back is not pending and is left to it."""
        return list(await self.pool.fetch(
            "UPDATE message_risk m SET level = GREATEST(m.level, x.l), pending = false,"
            " rule_ids = CASE WHEN x.ids = '' THEN m.rule_ids ELSE string_to_array(x.ids, ',')"
            " END, handled_at = CASE WHEN x.l >= 2 AND m.level < 2 THEN NULL"
            " ELSE m.handled_at END"
            " FROM unnest($1::uuid[], $2::bigint[], $3::int[], $4::text[]) AS x(c, s, l, ids)"
            " WHERE m.conversation_id = x.c AND m.seq = x.s AND m.pending"
            " RETURNING m.conversation_id, m.seq, m.level, m.rule_ids",
            [uuid.UUID(r[0]) for r in rows], [r[1] for r in rows], [int(r[2]) for r in rows],
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

    # ---- sealing ----------------------------------------------------------------------

    async def _event(self, conn: Any, escalation_id: str, conversation_id: str,
                     wrapped: WrappedKey | None, now: dt.datetime, actor: str | None,
                     action: str, level: RiskLevel | None, rule_ids: tuple[str, ...] = (),
                     note: str | None = None, role: str = "supervisor") -> None:
        event_id = await conn.fetchval(
            "SELECT nextval(pg_get_serial_sequence('escalation_events', 'id'))")
        nonce = ciphertext = None
        if note and wrapped is not None:
            # Bound to this row: the seq in the associated data is the event id.
            sealed = seal_text(self.vault, wrapped, conversation_id, event_id, role, note,
                               "escalation_reason")
            nonce, ciphertext = sealed.nonce, sealed.ciphertext
        await conn.execute(
            "INSERT INTO escalation_events (id, escalation_id, at, actor_staff_id, action,"
            " level, rule_ids, note_nonce, note_ciphertext)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            event_id, uuid.UUID(escalation_id), now, uuid.UUID(actor) if actor else None,
            action, int(level) if level is not None else None, list(rule_ids), nonce,
            ciphertext)
        await conn.execute(
            "INSERT INTO audit_log (at, actor_staff_id, action, conversation_id, escalation_id,"
            " detail) VALUES ($1, $2, $3, $4, $5, $6)",
            now, uuid.UUID(actor) if actor else None, f"escalation_{action}",
            uuid.UUID(conversation_id), uuid.UUID(escalation_id),
            json.dumps({"level": level.name if level is not None else None,
                        "rule_ids": list(rule_ids), "note": bool(note)}))

    # ---- signals ----------------------------------------------------------------------

    async def signal(self, conversation_id: str, level: RiskLevel, source: Source,
                     rule_ids: tuple[str, ...], now: dt.datetime, *,
                     actor: str | None = None, note: str | None = None,
                     wrapped: WrappedKey | None = None, role: str = "system") -> Signal:
        """Open an escalation at `level`, or raise the open one (never lower it)."""
        cid = uuid.UUID(conversation_id)
        async with self.pool.acquire() as conn:
            for _attempt in range(3):
                try:
                    async with conn.transaction():
                        current = await self.open_for(conversation_id, conn)
                        if current is None:
                            new_id = await conn.fetchval(
                                "INSERT INTO escalations (conversation_id, level, status, source,"
                                " reasons, opened_at, ack_deadline)"
                                " VALUES ($1, $2, 'open', $3, $4, $5, $6) RETURNING id",
                                cid, int(level), str(source), list(rule_ids), now,
                                self.deadlines.for_level(level, now))
                            await self._event(conn, str(new_id), conversation_id, wrapped, now,
                                              actor, f"opened_by_{source}", level, rule_ids,
                                              note, role)
                            esc = await self.get(str(new_id), conn)
                            assert esc is not None
                            return Signal(esc, True, False)
                        step = raise_level(current.level, level, current.status,
                                           current.ack_deadline, current.reasons, rule_ids,
                                           self.deadlines, now)
                        await conn.execute(
                            "UPDATE escalations SET level = $2, ack_deadline = $3, reasons = $4"
                            " WHERE id = $1", uuid.UUID(current.id), int(step.level),
                            step.ack_deadline, list(step.reasons))
                        await self._event(conn, current.id, conversation_id, wrapped, now,
                                          actor, f"signal_{source}", level, rule_ids, note,
                                          role)
                        esc = await self.get(current.id, conn)
                        assert esc is not None
                        return Signal(esc, False, step.raised)
                except asyncpg.UniqueViolationError:
                    # Another node opened one a moment ago: raise that one instead.
                    continue
        raise RuntimeError("escalation could not be recorded")

    # ---- supervisor actions -----------------------------------------------------------

    async def acknowledge(self, escalation_id: str, staff_id: str, now: dt.datetime,
                          ) -> Escalation | None:
        """First wins: None if it was no longer open (the caller reads the owner)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE escalations SET status = 'acknowledged', owner_staff_id = $2,"
                " acked_at = $3 WHERE id = $1 AND status = 'open'"
                " RETURNING conversation_id, level",
                uuid.UUID(escalation_id), uuid.UUID(staff_id), now)
            if row is None:
                return None
            await self._event(conn, escalation_id, str(row["conversation_id"]), None, now,
                              staff_id, "acknowledged", RiskLevel(row["level"]))
            return await self.get(escalation_id, conn)

    async def set_level(self, escalation_id: str, staff_id: str, level: RiskLevel,
                        note: str, wrapped: WrappedKey | None, now: dt.datetime,
                        ) -> Escalation | None:
        async with self.pool.acquire() as conn, conn.transaction():
            current = await conn.fetchrow(
                "SELECT conversation_id, status, ack_deadline FROM escalations"
                " WHERE id = $1 AND status <> 'resolved' FOR UPDATE", uuid.UUID(escalation_id))
            if current is None:
                return None
            deadline = set_level_deadline(level, Status(current["status"]),
                                          current["ack_deadline"], self.deadlines, now)
            await conn.execute(
                "UPDATE escalations SET level = $2, ack_deadline = $3 WHERE id = $1",
                uuid.UUID(escalation_id), int(level), deadline)
            await conn.execute("UPDATE conversations SET risk_level = $2 WHERE id = $1",
                               current["conversation_id"], int(level))
            await self._event(conn, escalation_id, str(current["conversation_id"]), wrapped,
                              now, staff_id, "set_level", level, (), note)
            return await self.get(escalation_id, conn)

    async def resolve(self, escalation_id: str, staff_id: str, outcome: str, note: str | None,
                      wrapped: WrappedKey | None, now: dt.datetime) -> Escalation | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE escalations SET status = 'resolved', resolved_at = $3, resolved_by = $2,"
                " outcome = $4, owner_staff_id = COALESCE(owner_staff_id, $2)"
                " WHERE id = $1 AND status <> 'resolved' RETURNING conversation_id, level",
                uuid.UUID(escalation_id), uuid.UUID(staff_id), now, outcome)
            if row is None:
                return None
            await self._event(conn, escalation_id, str(row["conversation_id"]), wrapped, now,
                              staff_id, "resolved", RiskLevel(row["level"]), (), note)
            return await self.get(escalation_id, conn)

    async def overdue(self, now: dt.datetime) -> builtins.list[Escalation]:
        """Claim every missed deadline once: the conditional UPDATE lets one node act."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE escalations SET realerted_at = $1 WHERE status = 'open'"
                " AND ack_deadline < $1 AND realerted_at IS NULL RETURNING id, conversation_id,"
                " level", now)
            out = []
            for r in rows:
                await self._event(conn, str(r["id"]), str(r["conversation_id"]), None, now,
                                  None, "deadline_missed", RiskLevel(r["level"]))
                esc = await self.get(str(r["id"]), conn)
                if esc is not None:
                    out.append(esc)
            return out

    # ---- audit ------------------------------------------------------------------------

    async def audit(self, actor: str | None, action: str, now: dt.datetime, *,
                    conversation_id: str | None = None, escalation_id: str | None = None,
                    reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
        await self.pool.execute(
            "INSERT INTO audit_log (at, actor_staff_id, action, conversation_id, escalation_id,"
            " reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            now, uuid.UUID(actor) if actor else None, action,
            uuid.UUID(conversation_id) if conversation_id else None,
            uuid.UUID(escalation_id) if escalation_id else None, reason,
            json.dumps(detail or {}))

    async def audit_rows(
        self, conversation_id: str | None, limit: int
    ) -> builtins.list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT a.id, a.at, a.actor_staff_id, s.display_name, a.action, a.conversation_id,"
            " a.escalation_id, a.reason, a.detail FROM audit_log a"
            " LEFT JOIN staff s ON s.id = a.actor_staff_id"
            " WHERE ($1::uuid IS NULL OR a.conversation_id = $1) ORDER BY a.id DESC LIMIT $2",
            uuid.UUID(conversation_id) if conversation_id else None, limit)
        return [{
            "id": r["id"], "at": _iso(r["at"]),
            "actor": {"id": str(r["actor_staff_id"]), "display_name": r["display_name"]}
            if r["actor_staff_id"] else None,
            "action": r["action"],
            "conversation_id": str(r["conversation_id"]) if r["conversation_id"] else None,
            "escalation_id": str(r["escalation_id"]) if r["escalation_id"] else None,
            "reason": r["reason"], "detail": json.loads(r["detail"]),
        } for r in rows]

    # ---- whispers and screens ---------------------------------------------------------

    async def store_whisper(self, conversation_id: str, supervisor_id: str,
                            counselor_id: str | None, text: str, wrapped: WrappedKey,
                            now: dt.datetime) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            wid = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('whispers', 'id'))")
            sealed = seal_text(self.vault, wrapped, conversation_id, wid, "supervisor", text,
                               "whisper")
            await conn.execute(
                "INSERT INTO whispers (id, conversation_id, supervisor_id, counselor_id, nonce,"
                " ciphertext, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                wid, uuid.UUID(conversation_id), uuid.UUID(supervisor_id),
                uuid.UUID(counselor_id) if counselor_id else None, sealed.nonce,
                sealed.ciphertext, now)
            return int(wid)

    async def store_screen(self, conversation_id: str, phq2_1: int, phq2_2: int,
                           phq9_9: int, now: dt.datetime) -> bool:
        inserted = await self.pool.fetchval(
            "INSERT INTO screenings (conversation_id, phq2_1, phq2_2, phq9_9, at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
            uuid.UUID(conversation_id), phq2_1, phq2_2, phq9_9, now)
        return bool(inserted)

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
