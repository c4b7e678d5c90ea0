"""Staff accounts from the command line and set-up: create, reset a password, disable.

SessionStore (accounts/sessions.py) inherits these, so a node's one store both signs
people in and changes accounts; the SQL of both stays in the accounts package's stores.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from chat_server.clock import Clock, system_clock
from chat_server.wire.protocol import Role
from crypto.passwords import check_password_policy, dummy_verify, hash_password, verify_password


async def hash_secret(secret: str) -> str:
    # Argon2id costs ~30 ms of CPU: keep it off the event loop.
    return await asyncio.to_thread(hash_password, secret)


async def verify_secret(secret: str, encoded: str | None) -> bool:
    if encoded is None:
        await asyncio.to_thread(dummy_verify, secret)
        return False
    return await asyncio.to_thread(verify_password, secret, encoded)


@dataclass(frozen=True, slots=True)
class StaffListing:
    username: str
    display_name: str
    role: str
    capacity: int
    disabled: bool


class StaffCommands:
    def __init__(self, pool: asyncpg.Pool, clock: Clock = system_clock) -> None:
        self.pool = pool
        self.clock = clock  # the node's clock: expiry and revocation times come from it

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
            await hash_secret(password),
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
                await hash_secret(password),
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

    async def staff_id(self, username: str) -> str | None:
        staff_id = await self.pool.fetchval("SELECT id FROM staff WHERE username = $1", username)
        return None if staff_id is None else str(staff_id)

    async def list_staff(self) -> list[StaffListing]:
        rows = await self.pool.fetch(
            "SELECT username, display_name, role, capacity, disabled_at IS NOT NULL AS off"
            " FROM staff ORDER BY role, username"
        )
        return [StaffListing(r["username"], r["display_name"], r["role"], r["capacity"],
                             r["off"]) for r in rows]
