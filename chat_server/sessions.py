"""Sign-in and sessions: workers by pseudonym (+ optional PIN or device), staff by password.

Sessions are opaque random tokens; only their SHA-256 is stored. Every request and every
WebSocket resolves its token to a Principal here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import itertools
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from chat_server.clock import Clock, system_clock
from chat_server.protocol import Role
from crypto.keyring import KeyRing
from crypto.passwords import (
    check_password_policy,
    dummy_verify,
    hash_password,
    needs_rehash,
    verify_password,
)
from crypto.pseudonym import CardRule, alias, all_pseudonyms, identify
from crypto.tokens import hash_token, looks_like_token, new_token

WORKER_COOKIE = "yz_w"
STAFF_COOKIE = "yz_s"
DEVICE_COOKIE = "yz_d"
DEVICE_TTL = dt.timedelta(days=180)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. `id` is the worker's or staff member's row id."""

    id: str
    role: Role
    token_hash: bytes
    name: str  # a worker's alias or a staff member's display name
    history_access: bool = False
    capacity: int = 0
    username: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role is not Role.WORKER


@dataclass(frozen=True, slots=True)
class WorkerSignIn:
    token: str
    device_token: str | None  # set when a new device secret was issued
    principal: Principal
    pin_set: bool


class PinIncorrect(Exception):
    """The PIN did not match (or no PIN was ever set: the same answer on purpose)."""


class BadCredentials(Exception):
    """Unknown name, wrong password or disabled account: one answer for all three."""


class WeakPin(Exception):
    pass


_PIN = re.compile(r"^\d{6}$")


def check_pin(pin: str) -> None:
    if not isinstance(pin, str) or not _PIN.match(pin):
        raise WeakPin("PIN must be 6 digits")
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    if len(set(digits)) == 1 or steps in ({1}, {-1}):
        raise WeakPin("PIN is too easy to guess")


async def _hash(secret: str) -> str:
    # Argon2id costs ~30 ms of CPU: keep it off the event loop.
    return await asyncio.to_thread(hash_password, secret)


async def _verify(secret: str, encoded: str | None) -> bool:
    if encoded is None:
        await asyncio.to_thread(dummy_verify, secret)
        return False
    return await asyncio.to_thread(verify_password, secret, encoded)


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, ring: KeyRing, card_rule: CardRule,
                 clock: Clock = system_clock) -> None:
        self.pool = pool
        self.ring = ring
        self.card_rule = card_rule
        self.clock = clock  # the node's clock: expiry and revocation times come from it

    # ---- workers ------------------------------------------------------------------

    async def worker_sign_in(
        self,
        number: str,
        *,
        consent_version: str,
        ttl_s: int,
        pin: str | None = None,
        device_token: str | None = None,
    ) -> WorkerSignIn:
        """Raises crypto.errors.InvalidIdentity or PinIncorrect; otherwise a new session."""
        identity = identify(number, self.card_rule)
        candidates = all_pseudonyms(self.ring, identity)
        active = candidates[0]
        async with self.pool.acquire() as conn, conn.transaction():
            row = None
            for p in candidates:
                row = await conn.fetchrow(
                    "SELECT id, pin_hash, alias, pepper_version FROM workers"
                    " WHERE pepper_version = $1 AND pseudonym = $2",
                    p.pepper_version,
                    p.digest,
                )
                if row:
                    break
            if row is None:
                row = await conn.fetchrow(
                    "INSERT INTO workers (pepper_version, pseudonym, alias, created_at)"
                    " VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (pepper_version, pseudonym) DO UPDATE SET alias = workers.alias"
                    " RETURNING id, pin_hash, alias, pepper_version",
                    active.pepper_version,
                    active.digest,
                    alias(active.digest),
                    self.clock(),
                )
            worker_id = row["id"]
            history = False
            if pin is not None:
                # Same work and same answer whether or not a PIN exists for this number.
                secret = self._pin_secret(str(row["id"]), row["pepper_version"], pin)
                if not await _verify(secret, row["pin_hash"]):
                    raise PinIncorrect()
                history = True
            if device_token and looks_like_token(device_token):
                owner = await conn.fetchval(
                    "UPDATE worker_devices SET last_used_at = $2 WHERE device_hash = $1"
                    " RETURNING worker_id",
                    hash_token(device_token), self.clock(),
                )
                if owner == worker_id:
                    history = True
                else:
                    device_token = None
            else:
                device_token = None
            new_device = None
            if device_token is None:
                new_device = new_token()
                await conn.execute(
                    "INSERT INTO worker_devices (device_hash, worker_id, created_at,"
                    " last_used_at) VALUES ($1, $2, $3, $3)",
                    hash_token(new_device),
                    worker_id,
                    self.clock(),
                )
            token = new_token()
            await conn.execute(
                "INSERT INTO sessions (token_hash, worker_id, history_access, consent_version,"
                " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                hash_token(token),
                worker_id,
                history,
                consent_version,
                *self._lifetime(ttl_s),
            )
        principal = Principal(
            id=str(worker_id),
            role=Role.WORKER,
            token_hash=hash_token(token),
            name=row["alias"],
            history_access=history,
        )
        return WorkerSignIn(token, new_device, principal, row["pin_hash"] is not None)

    def _lifetime(self, ttl_s: int) -> tuple[dt.datetime, dt.datetime]:
        """(created_at, expires_at) of a session that starts now."""
        now = self.clock()
        return now, now + dt.timedelta(seconds=ttl_s)

    async def set_pin(self, worker_id: str, pin: str) -> None:
        check_pin(pin)
        version = await self.pool.fetchval(
            "SELECT pepper_version FROM workers WHERE id = $1", uuid.UUID(worker_id))
        await self.pool.execute(
            "UPDATE workers SET pin_hash = $2 WHERE id = $1",
            uuid.UUID(worker_id),
            await _hash(self._pin_secret(worker_id, version, pin)),
        )

    def _pin_secret(self, worker_id: str, pepper_version: int, pin: str) -> str:
        """The PIN keyed with the pepper before Argon2id.

        A 6-digit PIN has a million values: Argon2id alone would fall to a day of offline
        guessing per worker from a stolen dump. Keyed with the pepper (never in the
        database), the dump alone is useless. The worker's own pepper version is used, the
        one their pseudonym was made with, so adding a pepper does not invalidate PINs.
        """
        digest = hmac.digest(self.ring.pepper(pepper_version),
                             f"yizhan:pin:{worker_id}:{pin}".encode(), "sha256")
        return digest.hex()

    async def pin_set(self, worker_id: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT pin_hash IS NOT NULL FROM workers WHERE id = $1", uuid.UUID(worker_id)
            )
        )

    # ---- staff --------------------------------------------------------------------

    async def staff_sign_in(
        self, username: str, password: str, *, ttl_s: int,
        second_factor: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[str, Principal]:
        """`second_factor(staff_id)` runs once the password matched, before any session
        exists; it raises to refuse (chat_server/admin_routes.py asks for TOTP there)."""
        row = await self.pool.fetchrow(
            "SELECT id, password_hash, disabled_at FROM staff WHERE username = $1", username
        )
        ok = await _verify(password, row["password_hash"] if row else None)
        if not ok or row is None or row["disabled_at"] is not None:
            raise BadCredentials()
        if second_factor is not None:
            await second_factor(str(row["id"]))
        if needs_rehash(row["password_hash"]):
            await self.pool.execute(
                "UPDATE staff SET password_hash = $2 WHERE id = $1",
                row["id"],
                await _hash(password),
            )
        token = new_token()
        await self.pool.execute(
            "INSERT INTO sessions (token_hash, staff_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            hash_token(token),
            row["id"],
            *self._lifetime(ttl_s),
        )
        principal = await self.lookup(token)
        assert principal is not None
        return token, principal

    async def create_staff(
        self, username: str, display_name: str, role: Role, password: str, capacity: int = 2
    ) -> str:
        check_password_policy(password, username=username)
        staff_id = await self.pool.fetchval(
            "INSERT INTO staff (username, display_name, role, password_hash, capacity,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            username,
            display_name,
            str(role),
            await _hash(password),
            capacity,
            self.clock(),
        )
        return str(staff_id)

    async def reset_password(self, username: str, password: str) -> bool:
        check_password_policy(password, username=username)
        async with self.pool.acquire() as conn, conn.transaction():
            staff_id = await conn.fetchval(
                "UPDATE staff SET password_hash = $2 WHERE username = $1 RETURNING id",
                username,
                await _hash(password),
            )
            if staff_id is None:
                return False
            await conn.execute(
                "UPDATE sessions SET revoked_at = $2 WHERE staff_id = $1 AND revoked_at IS NULL",
                staff_id, self.clock(),
            )
        return True

    async def disable_staff(self, username: str) -> str | None:
        """Disable an account and revoke its sessions; returns its id (for closing sockets)."""
        async with self.pool.acquire() as conn, conn.transaction():
            staff_id = await conn.fetchval(
                "UPDATE staff SET disabled_at = COALESCE(disabled_at, $2) WHERE username = $1"
                " RETURNING id",
                username, self.clock(),
            )
            if staff_id is None:
                return None
            await conn.execute(
                "UPDATE sessions SET revoked_at = $2 WHERE staff_id = $1 AND revoked_at IS NULL",
                staff_id, self.clock(),
            )
        return str(staff_id)

    # ---- sessions -----------------------------------------------------------------

    async def lookup(self, token: str | None) -> Principal | None:
        if not token or not looks_like_token(token):
            return None
        return await self.lookup_hash(hash_token(token))

    async def lookup_hash(self, token_hash: bytes) -> Principal | None:
        row = await self.pool.fetchrow(
            "SELECT s.worker_id, s.staff_id, s.history_access, w.alias,"
            " st.display_name, st.role, st.capacity, st.username"
            " FROM sessions s LEFT JOIN workers w ON w.id = s.worker_id"
            " LEFT JOIN staff st ON st.id = s.staff_id"
            " WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
            " AND (s.staff_id IS NULL OR st.disabled_at IS NULL)",
            token_hash, self.clock(),
        )
        if row is None:
            return None
        if row["worker_id"] is not None:
            return Principal(
                id=str(row["worker_id"]),
                role=Role.WORKER,
                token_hash=token_hash,
                name=row["alias"],
                history_access=row["history_access"],
            )
        return Principal(
            id=str(row["staff_id"]),
            role=Role(row["role"]),
            token_hash=token_hash,
            name=row["display_name"],
            capacity=row["capacity"],
            username=row["username"],
        )

    async def revoke(self, token_hash: bytes) -> None:
        await self.pool.execute(
            "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash, self.clock(),
        )

    async def forget_device(self, device_token: str) -> None:
        if looks_like_token(device_token):
            await self.pool.execute(
                "DELETE FROM worker_devices WHERE device_hash = $1", hash_token(device_token)
            )
