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

from chat_server.crisis.escalation import (
    Deadlines,
    Source,
    Status,
    raise_level,
    set_level_deadline,
)
from chat_server.crisis.level_store import LevelLog
from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.referral_store import ReferralLog, mark_followup_done
from chat_server.vault import seal_text
from crypto.envelope import Vault
from crypto.keyring import WrappedKey

# mark_followup_done lives in referral_store; crisis.routes imports it from here.
__all__ = ["Escalation", "EscalationStore", "Signal", "mark_followup_done"]

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


class EscalationStore(LevelLog, ReferralLog):
    """Escalations and their audit; message levels and referrals come from the bases."""

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
