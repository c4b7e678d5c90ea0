"""Staff accounts as the admin page sees them: set-up links, roles, capacity, two factors.

A new account gets a password nobody knows (an Argon2id hash of random bytes) and a
one-time set-up link; its owner chooses the password and enrols TOTP on the link's page.
So no password ever passes through an admin's hands, a chat app or an email.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from chat_server.accounts import totp
from chat_server.clock import Clock
from crypto.keyring import KeyRing
from crypto.passwords import check_password_policy, hash_password
from crypto.tokens import hash_token, looks_like_token, new_token
from yizhan_errors import YizhanError

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
ROLES = ("counselor", "supervisor", "admin")
# Supervisors and admins read transcripts of people at risk and run accounts: for them the
# set-up link enrols TOTP before the password is accepted. Counselors may enrol.
TOTP_REQUIRED_ROLES = frozenset({"supervisor", "admin"})
SETUP_TTL = dt.timedelta(hours=72)


class AccountError(YizhanError):
    """A refused change; `code` is the problem code the route answers with."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SetupLink:
    token: str  # shown once, to the admin who made it; only its hash is stored
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Enrolment:
    staff_id: str
    username: str
    display_name: str
    role: str
    totp_required: bool
    secret: bytes


def staff_json(r: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]), "username": r["username"], "display_name": r["display_name"],
        "role": r["role"], "capacity": r["capacity"],
        "disabled": r["disabled_at"] is not None,
        "totp": r["totp_enabled_at"] is not None,
        "setup_pending": bool(r["setup_pending"]),
        "created_at": r["created_at"].isoformat(),
    }


_STAFF_SELECT = (
    "SELECT s.id, s.username, s.display_name, s.role, s.capacity, s.disabled_at,"
    " s.totp_enabled_at, s.created_at, EXISTS (SELECT 1 FROM staff_setup_links l"
    " WHERE l.staff_id = s.id AND l.used_at IS NULL AND l.expires_at > $1) AS setup_pending"
    " FROM staff s"
)


async def _unknowable_hash() -> str:
    return await asyncio.to_thread(hash_password, secrets.token_urlsafe(32))


class StaffAccounts:
    def __init__(self, pool: asyncpg.Pool, ring: KeyRing, clock: Clock) -> None:
        self.pool = pool
        self.ring = ring
        self.clock = clock  # the node's clock (docs/DECISIONS.md, "One clock")

    async def list(self) -> builtins.list[dict[str, Any]]:
        rows = await self.pool.fetch(_STAFF_SELECT + " ORDER BY s.role, s.username",
                                     self.clock())
        return [staff_json(r) for r in rows]

    async def get(self, staff_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(_STAFF_SELECT + " WHERE s.id = $2", self.clock(),
                                       uuid.UUID(staff_id))
        return staff_json(row) if row else None

    async def create(self, actor: str, username: str, display_name: str, role: str,
                     capacity: int) -> tuple[dict[str, Any], SetupLink]:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            staff_id = await conn.fetchval(
                "INSERT INTO staff (username, display_name, role, password_hash, capacity,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (username) DO NOTHING RETURNING id",
                username, display_name, role, await _unknowable_hash(), capacity, now)
            if staff_id is None:
                raise AccountError(409, "username_taken", "that user name is taken")
            link = await self._new_link(conn, staff_id, actor, now)
            await self._audit(conn, actor, "staff_created", staff_id, now, {"role": role})
        account = await self.get(str(staff_id))
        assert account is not None
        return account, link

    async def update(self, actor: str, staff_id: str, changes: dict[str, Any]
                     ) -> dict[str, Any]:
        now = self.clock()
        sid = uuid.UUID(staff_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT role FROM staff WHERE id = $1 FOR UPDATE", sid)
            if row is None:
                raise AccountError(404, "not_found", "no such staff member")
            if "role" in changes and row["role"] == "admin" and changes["role"] != "admin":
                await self._keep_an_admin(conn, sid)
            for column in ("role", "capacity", "display_name"):
                if column in changes:
                    await conn.execute(f"UPDATE staff SET {column} = $2 WHERE id = $1", sid,
                                       changes[column])
            await self._audit(conn, actor, "staff_updated", sid, now,
                              {k: v for k, v in changes.items() if k != "display_name"})
        account = await self.get(staff_id)
        assert account is not None
        return account

    async def set_disabled(self, actor: str, staff_id: str, disabled: bool) -> builtins.list[bytes]:
        """Disable (revoking every session; their hashes are returned) or enable again."""
        now = self.clock()
        sid = uuid.UUID(staff_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT role FROM staff WHERE id = $1 FOR UPDATE", sid)
            if row is None:
                raise AccountError(404, "not_found", "no such staff member")
            if disabled and row["role"] == "admin":
                await self._keep_an_admin(conn, sid)
            await conn.execute(
                "UPDATE staff SET disabled_at = CASE WHEN $2 THEN COALESCE(disabled_at, $3)"
                " END WHERE id = $1", sid, disabled, now)
            revoked = await self._revoke(conn, sid, now) if disabled else []
            await self._audit(conn, actor, "staff_disabled" if disabled else "staff_enabled",
                              sid, now, {})
        return revoked

    async def reset(self, actor: str, staff_id: str) -> tuple[SetupLink, builtins.list[bytes]]:
        """Forget the password and both factors; a new set-up link is the way back in."""
        now = self.clock()
        sid = uuid.UUID(staff_id)
        async with self.pool.acquire() as conn, conn.transaction():
            found = await conn.fetchval(
                "UPDATE staff SET password_hash = $2, totp_secret = NULL,"
                " totp_kek_version = NULL, totp_enabled_at = NULL, totp_last_step = NULL"
                " WHERE id = $1 RETURNING id", sid, await _unknowable_hash())
            if found is None:
                raise AccountError(404, "not_found", "no such staff member")
            await conn.execute("DELETE FROM staff_recovery_codes WHERE staff_id = $1", sid)
            await conn.execute(
                "UPDATE staff_setup_links SET used_at = $2 WHERE staff_id = $1"
                " AND used_at IS NULL", sid, now)
            revoked = await self._revoke(conn, sid, now)
            link = await self._new_link(conn, sid, actor, now)
            await self._audit(conn, actor, "staff_reset", sid, now, {})
        return link, revoked

    # ---- the set-up link's page ----------------------------------------------------

    async def enrolment(self, token: str) -> Enrolment:
        """Who a live link is for, with the TOTP secret to enrol (made once, then kept)."""
        if not looks_like_token(token):
            raise AccountError(404, "link_invalid", "this link is unknown, used or expired")
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT s.id, s.username, s.display_name, s.role, s.totp_secret,"
                " s.totp_kek_version FROM staff_setup_links l JOIN staff s ON s.id = l.staff_id"
                " WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2"
                " FOR UPDATE OF s", hash_token(token), now)
            if row is None:
                raise AccountError(404, "link_invalid", "this link is unknown, used or expired")
            if row["totp_secret"] is None:
                secret = totp.new_secret()
                sealed = totp.seal(self.ring, secret)
                await conn.execute(
                    "UPDATE staff SET totp_secret = $2, totp_kek_version = $3 WHERE id = $1",
                    row["id"], sealed.wrapped, sealed.kek_version)
            else:
                secret = totp.open_secret(self.ring, totp.SealedSecret(
                    row["totp_kek_version"], row["totp_secret"]))
        return Enrolment(str(row["id"]), row["username"], row["display_name"], row["role"],
                         row["role"] in TOTP_REQUIRED_ROLES, secret)

    async def complete(self, token: str, password: str, code: str | None) -> builtins.list[str]:
        """Set the password (and TOTP, if a code is given); returns new recovery codes."""
        enrol = await self.enrolment(token)
        check_password_policy(password, username=enrol.username)  # raises WeakPassword
        now = self.clock()
        step = None
        if code:
            step = totp.matching_step(enrol.secret, code, now, None)
            if step is None:
                raise AccountError(400, "totp_incorrect", "that code does not match; try the"
                                   " newest one")
        elif enrol.totp_required:
            raise AccountError(400, "totp_required", "this role needs a code from an"
                               " authenticator app")
        password_hash = await asyncio.to_thread(hash_password, password)
        codes = totp.new_recovery_codes() if step is not None else []
        sid = uuid.UUID(enrol.staff_id)
        async with self.pool.acquire() as conn, conn.transaction():
            used = await conn.fetchval(
                "UPDATE staff_setup_links SET used_at = $2 WHERE token_hash = $1"
                " AND used_at IS NULL AND expires_at > $2 RETURNING staff_id",
                hash_token(token), now)
            if used is None:  # a second tab finished first
                raise AccountError(404, "link_invalid", "this link is unknown, used or expired")
            await conn.execute("UPDATE staff SET password_hash = $2 WHERE id = $1", sid,
                               password_hash)
            await conn.execute("DELETE FROM staff_recovery_codes WHERE staff_id = $1", sid)
            if step is not None:
                await conn.execute(
                    "UPDATE staff SET totp_enabled_at = $2, totp_last_step = $3 WHERE id = $1",
                    sid, now, step)
                await conn.executemany(
                    "INSERT INTO staff_recovery_codes (staff_id, code_hash) VALUES ($1, $2)",
                    [(sid, totp.recovery_hash(c)) for c in codes])
            else:
                await conn.execute(
                    "UPDATE staff SET totp_secret = NULL, totp_kek_version = NULL WHERE id = $1",
                    sid)
            await self._audit(conn, enrol.staff_id, "staff_setup_done", sid, now,
                              {"totp": step is not None})
        return codes

    # ---- sign-in's second factor -----------------------------------------------------

    async def totp_enabled(self, staff_id: str) -> bool:
        return bool(await self.pool.fetchval(
            "SELECT totp_enabled_at IS NOT NULL FROM staff WHERE id = $1", uuid.UUID(staff_id)))

    async def check_second_factor(self, staff_id: str, code: str) -> bool:
        """A TOTP code (each used once) or an unused recovery code (then spent)."""
        sid = uuid.UUID(staff_id)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT totp_secret, totp_kek_version, totp_last_step FROM staff"
                " WHERE id = $1 AND totp_enabled_at IS NOT NULL FOR UPDATE", sid)
            if row is None:
                return False
            if totp.looks_like_recovery(code):
                spent = await conn.fetchval(
                    "UPDATE staff_recovery_codes SET used_at = $3 WHERE staff_id = $1"
                    " AND code_hash = $2 AND used_at IS NULL RETURNING 1",
                    sid, totp.recovery_hash(code), now)
                if spent:
                    await self._audit(conn, staff_id, "recovery_code_used", sid, now, {})
                return bool(spent)
            secret = totp.open_secret(self.ring, totp.SealedSecret(
                row["totp_kek_version"], row["totp_secret"]))
            step = totp.matching_step(secret, code, now, row["totp_last_step"])
            if step is None:
                return False
            await conn.execute("UPDATE staff SET totp_last_step = $2 WHERE id = $1", sid, step)
        return True

    async def recovery_left(self, staff_id: str) -> int:
        return int(await self.pool.fetchval(
            "SELECT count(*) FROM staff_recovery_codes WHERE staff_id = $1 AND used_at IS NULL",
            uuid.UUID(staff_id)))

    # ---- inside ----------------------------------------------------------------------

    async def _new_link(self, conn: asyncpg.Connection, staff_id: uuid.UUID, actor: str,
                        now: dt.datetime) -> SetupLink:
        token = new_token()
        expires = now + SETUP_TTL
        await conn.execute(
            "INSERT INTO staff_setup_links (token_hash, staff_id, created_by, created_at,"
            " expires_at) VALUES ($1, $2, $3, $4, $5)",
            hash_token(token), staff_id, uuid.UUID(actor), now, expires)
        return SetupLink(token, expires)

    async def _revoke(self, conn: asyncpg.Connection, sid: uuid.UUID, now: dt.datetime
                      ) -> builtins.list[bytes]:
        rows = await conn.fetch(
            "UPDATE sessions SET revoked_at = $2 WHERE staff_id = $1 AND revoked_at IS NULL"
            " RETURNING token_hash", sid, now)
        return [bytes(r["token_hash"]) for r in rows]

    async def _keep_an_admin(self, conn: asyncpg.Connection, sid: uuid.UUID) -> None:
        others = await conn.fetchval(
            "SELECT count(*) FROM staff WHERE role = 'admin' AND disabled_at IS NULL"
            " AND id <> $1", sid)
        if not others:
            raise AccountError(409, "last_admin", "the last admin cannot be demoted or disabled")

    async def _audit(self, conn: asyncpg.Connection, actor: str, action: str,
                     subject: uuid.UUID, now: dt.datetime, detail: dict[str, Any]) -> None:
        await conn.execute(
            "INSERT INTO audit_log (actor_staff_id, action, reason, at, detail)"
            " VALUES ($1, $2, 'staff account', $3, $4::jsonb)",
            uuid.UUID(actor), action, now, json.dumps({"staff_id": str(subject), **detail}))
