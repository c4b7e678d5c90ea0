"""PostgreSQL: the connection pool and the idempotent schema, applied at start-up."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import asyncpg

# Bump when schema.sql changes in a way older code cannot read.
SCHEMA_VERSION = 1

# Serializes schema application across nodes starting at once.
_SCHEMA_LOCK_ID = 0x59_7A_68_61


class SchemaTooNew(Exception):
    """The database was migrated by newer code; running older code on it could corrupt it."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this code supports ({supported})"
        )
        self.found = found
        self.supported = supported


def schema_sql() -> str:
    # schema.sql sits at the repository root; an installed wheel carries a copy in the package.
    root = Path(__file__).resolve().parent.parent / "schema.sql"
    if root.exists():
        return root.read_text(encoding="utf-8")
    return resources.files("chat_server").joinpath("schema.sql").read_text(encoding="utf-8")


async def apply_schema(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_ID)
        exists = await conn.fetchval("SELECT to_regclass('schema_meta') IS NOT NULL")
        if exists:
            found = await conn.fetchval("SELECT version FROM schema_meta")
            if found is not None and found > SCHEMA_VERSION:
                raise SchemaTooNew(found, SCHEMA_VERSION)
        await conn.execute(schema_sql())
        await conn.execute(
            "INSERT INTO schema_meta (singleton, version) VALUES (true, $1) "
            "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
            SCHEMA_VERSION,
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook: skip asyncpg's default reset query.

    The default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release — a second round trip for every stored message. Our code never leaves
    session state behind (no session advisory locks, cursors, LISTEN or SET; the schema
    lock is transaction-scoped), and asyncpg still rolls back an open transaction first.
    """


# 20: at 10, a burst of workers asking at once queued for connections (docs/DECISIONS.md).
# Two nodes hold at most 40 of PostgreSQL's default 100.
async def create_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                     reset=_keep_session)
    assert pool is not None
    return pool


async def ensure_database(url: str, name: str) -> str:
    """Create database `name` on the server at `url` if missing; return a URL for it."""
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not found:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(url, name)


def with_database(url: str, name: str) -> str:
    """Swap the database name in a postgresql:// URL (which may carry ?host=/socket/dir)."""
    head, sep, query = url.partition("?")
    scheme, rest = head.split("://", 1)
    authority, _, _old = rest.partition("/")
    return f"{scheme}://{authority}/{name}{sep}{query}"
