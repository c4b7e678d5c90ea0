"""First-run set-up for `yizhan dev`: migrations, development keys, demo accounts."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import asyncpg

from chat_server import db
from chat_server.accounts.sessions import SessionStore
from chat_server.clock import system_clock
from chat_server.config import Settings
from chat_server.vault import load_key_ring
from chat_server.wire.protocol import Role
from crypto.errors import WeakPassword
from crypto.keyring import KeyRing
from crypto.passwords import check_password_policy
from crypto.pseudonym import CardRule

DEMO_ACCOUNTS = (
    ("demo-counselor", "示例咨询师", Role.COUNSELOR),
    ("demo-supervisor", "示例督导", Role.SUPERVISOR),
)
ACCOUNTS_FILE = "demo-accounts.txt"


def prepare(settings: Settings) -> None:
    """Idempotent: safe on every start."""
    # Creates var/keys.json (0600, directory 0700) on the first run.
    ring = load_key_ring(settings.replace(dev=True))
    created = asyncio.run(_prepare(settings, ring))
    path = settings.data_dir / ACCOUNTS_FILE
    names = ", ".join(name for name, _, _ in DEMO_ACCOUNTS)
    if created:
        print(f"created demo accounts {names}; their passwords are in {path}", flush=True)
    elif path.exists():
        print(f"demo accounts {names}: passwords in {path}", flush=True)


async def _prepare(settings: Settings, ring: KeyRing) -> bool:
    """Migrate the development database; make the demo accounts on the first run (True)."""
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        await db.migrate(conn, system_clock())
        existing = await conn.fetchval(
            "SELECT count(*) FROM staff WHERE username = ANY($1::text[])",
            [name for name, _, _ in DEMO_ACCOUNTS],
        )
    finally:
        await conn.close()
    path = settings.data_dir / ACCOUNTS_FILE
    # First run only: accounts an operator disabled or deleted are not brought back.
    if existing or path.exists():
        return False
    passwords = {name: _strong_password(name) for name, _, _ in DEMO_ACCOUNTS}
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        sessions = SessionStore(pool, ring, CardRule.parse(settings.card_rule))
        for name, display, role in DEMO_ACCOUNTS:
            await sessions.create_staff(name, display, role, passwords[name])
    finally:
        await pool.close()
    _write_private(
        path,
        "# Yizhan development demo accounts (created by `yizhan dev` on its first run).\n"
        "# Change them with: yizhan staff reset-password USERNAME\n"
        + "".join(f"{name}\t{pw}\n" for name, pw in passwords.items()),
    )
    return True


def _strong_password(username: str) -> str:
    while True:
        candidate = secrets.token_urlsafe(18)  # 144 random bits, 24 characters
        try:
            check_password_policy(candidate, username=username)
            return candidate
        except WeakPassword:
            continue  # astronomically rare; the policy has the last word anyway


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only remove bits; make the mode exact
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
