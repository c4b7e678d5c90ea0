"""Sign-in and sessions: workers by pseudonym (+ optional PIN or device), staff by password.

Sessions are opaque random tokens; only their SHA-256 is stored. Every request and every
WebSocket resolves its token to a Principal here.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from chat_server.accounts.staff_commands import StaffCommands, hash_secret, verify_secret
from chat_server.clock import Clock, system_clock
from chat_server.wire.protocol import Role
from crypto.errors import InvalidIdentity
from crypto.keyring import KeyRing
from crypto.passwords import (
    needs_rehash,
)
from crypto.pseudonym import CardRule, alias, all_pseudonyms, identify
from crypto.tokens import hash_token, looks_like_token, new_token
from yizhan_errors import YizhanError

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
    # A worker session's device credentials (hashes): its own first, then PIN-opened ones.
    devices: tuple[bytes, ...] = ()
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


class PinIncorrect(YizhanError):
    """The PIN did not match (or no PIN was ever set: the same answer on purpose)."""


class BadCredentials(YizhanError):
    """Unknown name, wrong password or disabled account: one answer for all three."""


class BadPin(YizhanError):
    """Not the shape of a code (8 digits): it cannot match anything, so it is no guess."""


class PinSlowed(YizhanError):
    """Too many wrong PINs lately for this number or source: wait (never a lockout)."""


class NoPossession(YizhanError):
    """The session holds nothing bound to any conversation, so it may not set a PIN."""


# Codes are drawn by the server, never chosen: a chosen PIN was often the birth date or
# the last digits of the ID number, which whoever knows the number knows too. Eight
# digits: typed on a phone's number pad, written on paper, read out like a phone number;
# 10^8 values against a few hundred slowed guesses a day (docs/SECURITY.md §0).
PIN_DIGITS = 8
_PIN = re.compile(rf"^\d{{{PIN_DIGITS}}}$")


def new_pin() -> str:
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def normalize_pin(text: str) -> str:
    """The code as typed (full-width digits, spaces and hyphens allowed); raises BadPin."""
    pin = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", text))
    if not _PIN.match(pin) or not pin.isascii():
        raise BadPin(f"the code has {PIN_DIGITS} digits")
    return pin


def new_alias() -> str:
    """A random display name for a device: it says nothing of the number."""
    return alias(secrets.token_bytes(32))


class SessionStore(StaffCommands):
    """Sign-in and session look-up; the account changes it inherits are in staff_commands."""

    def __init__(self, pool: asyncpg.Pool, ring: KeyRing, card_rule: CardRule,
                 clock: Clock = system_clock) -> None:
        super().__init__(pool, clock)
        self.ring = ring
        self.card_rule = card_rule

    # ---- workers ------------------------------------------------------------------

    async def worker_sign_in(
        self,
        number: str,
        *,
        consent_version: str,
        ttl_s: int,
        pin: str | None = None,
        device_token: str | None = None,
        pin_slowed: bool = False,
    ) -> WorkerSignIn:
        """A new worker session holding its device credential (a new one if none is shown)
        and, with the right PIN, the devices that PIN was set on.

        Raises crypto.errors.InvalidIdentity, PinIncorrect, or PinSlowed (when `pin_slowed`
        and the caller shows no device credential of this worker: one that does is never
        slowed down, it signs in with what the device holds and the PIN is not tried).
        """
        identity = identify(number, self.card_rule)
        candidates = all_pseudonyms(self.ring, identity)
        active = candidates[0]
        async with self.pool.acquire() as conn, conn.transaction():
            row = None
            for p in candidates:
                row = await conn.fetchrow(
                    "SELECT id, alias, pepper_version FROM workers"
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
                    " RETURNING id, alias, pepper_version",
                    active.pepper_version,
                    active.digest,
                    alias(active.digest),
                    self.clock(),
                )
            worker_id = row["id"]
            held: list[bytes] = []
            # The alias counselors will see: the device's, never one derived from the
            # number, so a sign-in with the number alone does not get the worker's.
            shown: str | None = None
            if device_token and looks_like_token(device_token):
                own = await conn.fetchrow(
                    "UPDATE worker_devices SET last_used_at = $2,"
                    " alias = COALESCE(alias, $3) WHERE device_hash = $1 AND worker_id = $4"
                    " RETURNING alias",
                    hash_token(device_token), self.clock(), new_alias(), worker_id,
                )
                if own is not None:
                    held.append(hash_token(device_token))
                    shown = own["alias"]
            history = bool(held)
            if pin is not None and not (pin_slowed and held):
                if pin_slowed:
                    raise PinSlowed()
                # One indexed look-up whether or not this number has a code: the same work
                # and the same answer either way.
                digest = pin_digest(self.ring, str(worker_id), row["pepper_version"], pin)
                opened = await conn.fetch(
                    "SELECT device_hash, alias FROM worker_devices WHERE worker_id = $1"
                    " AND pin_digest = $2 ORDER BY created_at", worker_id, digest)
                if not opened:
                    raise PinIncorrect()
                held.extend(bytes(r["device_hash"]) for r in opened
                            if bytes(r["device_hash"]) not in held)
                # A new phone that proved the code goes on under the name it had.
                shown = shown or next((r["alias"] for r in opened if r["alias"]), None)
                history = True
            new_device = None
            if device_token is None or not held or held[0] != hash_token(device_token):
                # The session's own device comes first: it is what its conversations bind to.
                new_device = new_token()
                shown = shown or new_alias()
                await conn.execute(
                    "INSERT INTO worker_devices (device_hash, worker_id, alias, created_at,"
                    " last_used_at) VALUES ($1, $2, $3, $4, $4)",
                    hash_token(new_device),
                    worker_id,
                    shown,
                    self.clock(),
                )
                held.insert(0, hash_token(new_device))
            assert shown is not None
            pin_set = bool(await conn.fetchval(
                "SELECT bool_or(pin_digest IS NOT NULL) FROM worker_devices"
                " WHERE device_hash = ANY($1::bytea[])", held))
            token = new_token()
            await conn.execute(
                "INSERT INTO sessions (token_hash, worker_id, history_access, devices, alias,"
                " consent_version, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                hash_token(token),
                worker_id,
                history,
                held,
                shown,
                consent_version,
                *self._lifetime(ttl_s),
            )
        principal = Principal(
            id=str(worker_id),
            role=Role.WORKER,
            token_hash=hash_token(token),
            name=shown,
            history_access=history,
            devices=tuple(held),
        )
        return WorkerSignIn(token, new_device, principal, pin_set)

    def _lifetime(self, ttl_s: int) -> tuple[dt.datetime, dt.datetime]:
        """(created_at, expires_at) of a session that starts now."""
        now = self.clock()
        return now, now + dt.timedelta(seconds=ttl_s)

    async def new_code(self, p: Principal) -> str:
        """A fresh random code for the devices this session holds (it replaces their
        earlier code); shown once, only its keyed digest is kept. Raises NoPossession.

        Only a session that can already read a conversation of this worker may: the code
        then opens what that session opens, never more. (A number-only session has a
        brand-new device bound to nothing, so it is refused.) Never slowed: a code is
        drawn, not chosen, so making one is no guess at anyone's.
        """
        pin = new_pin()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT w.pepper_version, EXISTS (SELECT 1 FROM conversations c"
                " WHERE c.worker_id = w.id AND (c.opened_by_session = $2"
                " OR c.opened_by_device = ANY($3::bytea[]))) AS holds"
                " FROM workers w WHERE w.id = $1",
                uuid.UUID(p.id), p.token_hash, list(p.devices))
            if row is None or not row["holds"]:
                raise NoPossession()
            await conn.execute(
                "UPDATE worker_devices SET pin_digest = $3 WHERE worker_id = $1"
                " AND device_hash = ANY($2::bytea[])",
                uuid.UUID(p.id), list(p.devices),
                pin_digest(self.ring, p.id, row["pepper_version"], pin))
        return pin

    async def is_device_of(self, device_token: str | None, number: str) -> bool:
        """Whether `device_token` is a device credential of this number's worker (which
        only the worker's own browser can show). False for an invalid number."""
        if not device_token or not looks_like_token(device_token):
            return False
        try:
            candidates = all_pseudonyms(self.ring, identify(number, self.card_rule))
        except InvalidIdentity:
            return False
        return bool(await self.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM worker_devices d JOIN workers w ON w.id = d.worker_id"
            " WHERE d.device_hash = $1 AND (w.pepper_version, w.pseudonym) IN"
            " (SELECT * FROM unnest($2::int[], $3::bytea[])))",
            hash_token(device_token), [c.pepper_version for c in candidates],
            [c.digest for c in candidates]))

    async def devices_have_pin(self, devices: tuple[bytes, ...]) -> bool:
        return bool(await self.pool.fetchval(
            "SELECT bool_or(pin_digest IS NOT NULL) FROM worker_devices"
            " WHERE device_hash = ANY($1::bytea[])", list(devices)))

    # ---- staff --------------------------------------------------------------------

    async def staff_sign_in(
        self, username: str, password: str, *, ttl_s: int,
        second_factor: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[str, Principal]:
        """`second_factor(staff_id)` runs once the password matched, before any session
        exists; it raises to refuse (chat_server/accounts/staff_routes.py asks for TOTP there)."""
        row = await self.pool.fetchrow(
            "SELECT id, password_hash, disabled_at FROM staff WHERE username = $1", username
        )
        ok = await verify_secret(password, row["password_hash"] if row else None)
        if not ok or row is None or row["disabled_at"] is not None:
            raise BadCredentials()
        if second_factor is not None:
            await second_factor(str(row["id"]))
        if needs_rehash(row["password_hash"]):
            await self.pool.execute(
                "UPDATE staff SET password_hash = $2 WHERE id = $1",
                row["id"],
                await hash_secret(password),
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

    # ---- sessions -----------------------------------------------------------------

    async def lookup(self, token: str | None) -> Principal | None:
        if not token or not looks_like_token(token):
            return None
        return await self.lookup_hash(hash_token(token))

    async def lookup_hash(self, token_hash: bytes) -> Principal | None:
        row = await self.pool.fetchrow(
            "SELECT s.worker_id, s.staff_id, s.history_access, s.devices, s.alias,"
            " st.display_name, st.role, st.capacity, st.username"
            " FROM sessions s LEFT JOIN workers w ON w.id = s.worker_id"
            " LEFT JOIN staff st ON st.id = s.staff_id"
            " WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
            " AND (s.staff_id IS NULL OR st.disabled_at IS NULL)",
            token_hash, self.clock(),
        )
        return None if row is None else _principal(row, token_hash)

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


def _principal(row: asyncpg.Record, token_hash: bytes) -> Principal:
    if row["worker_id"] is not None:
        return Principal(
            id=str(row["worker_id"]),
            role=Role.WORKER,
            token_hash=token_hash,
            name=row["alias"],
            history_access=row["history_access"],
            devices=tuple(bytes(d) for d in row["devices"]),
        )
    return Principal(
        id=str(row["staff_id"]),
        role=Role(row["role"]),
        token_hash=token_hash,
        name=row["display_name"],
        capacity=row["capacity"],
        username=row["username"],
    )


def pin_digest(ring: KeyRing, worker_id: str, pepper_version: int, pin: str) -> bytes:
    """The code keyed with the pepper: what worker_devices.pin_digest holds.

    Keyed, so a dump without the key ring cannot test guesses; not Argon2id, because
    it must be found by an indexed look-up (one number may have PINs on several
    devices, and a guesser must not be able to make sign-in slower by adding more).
    Whoever holds the ring and the dump reads every message anyway (docs/SECURITY.md).
    """
    return hmac.digest(ring.pepper(pepper_version),
                       f"yizhan:pin:{worker_id}:{pin}".encode(), "sha256")
