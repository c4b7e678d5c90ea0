"""PostgreSQL: the connection pool, and numbered migrations that only `yizhan migrate` runs."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from yizhan_errors import YizhanError

# Serializes `yizhan migrate` runs started at once.
_MIGRATE_LOCK_ID = 0x59_7A_68_61
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Data rights a runtime role needs; `yizhan migrate --grant-to ROLE` gives exactly these.
_DATA_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}",
)


class SchemaError(YizhanError):
    """The database's schema does not match this code; the message says what to do."""


class SchemaTooNew(SchemaError):
    """The database was migrated by newer code; running older code on it could corrupt it."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this code supports ({supported}); "
            "upgrade this node's code, never roll the database back"
        )
        self.found = found
        self.supported = supported


class SchemaTooOld(SchemaError):
    """Migrations are pending: nodes never run DDL, `yizhan migrate` does."""

    def __init__(self, found: int, wanted: int) -> None:
        where = "has no schema" if found == 0 else f"is at schema version {found}"
        super().__init__(
            f"the database {where}; this code needs version {wanted}: "
            "run `yizhan migrate` with the owner role first"
        )
        self.found = found
        self.wanted = wanted


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The numbered SQL files shipped in chat_server/migrations, in order."""
    found = []
    for entry in resources.files("chat_server").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    # A gap or a duplicate number means a file was misnamed: refuse rather than guess.
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise SchemaError("migration files must be numbered 0001, 0002, … without gaps")
    return found


def latest_version() -> int:
    return len(migrations())


async def applied_version(conn: asyncpg.Connection) -> int:
    """The highest migration applied to this database (0: none)."""
    if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        return 0
    version: int = await conn.fetchval(
        "SELECT coalesce(max(version), 0) FROM schema_migrations")
    return version


async def check_version(conn: asyncpg.Connection) -> int:
    """Raise SchemaError unless the database is exactly at this code's version. Reads only."""
    wanted = latest_version()
    found = await applied_version(conn)
    if found > wanted:
        raise SchemaTooNew(found, wanted)
    if found < wanted:
        raise SchemaTooOld(found, wanted)
    return found


async def migrate(conn: asyncpg.Connection, now: dt.datetime) -> list[Migration]:
    """Apply pending migrations, each in its own transaction; returns those applied.

    Runs with the owner role. `now` is the node's clock (docs/DECISIONS.md, "One clock").
    """
    todo = migrations()
    done: list[Migration] = []
    for migration in todo:
        async with conn.transaction():
            # Two runs started at once: the second waits here, then sees what the first did.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK_ID)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL)"
            )
            found = await applied_version(conn)
            if found > len(todo):
                raise SchemaTooNew(found, len(todo))
            if migration.version <= found:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version, migration.name, now,
            )
        done.append(migration)
    return done


async def grant_data_rights(conn: asyncpg.Connection, role: str) -> None:
    """Give `role` the rights a node needs (read and write rows) and nothing more."""
    quoted = await conn.fetchval("SELECT quote_ident($1)", role)
    async with conn.transaction():
        for statement in _DATA_GRANTS:
            await conn.execute(statement.format(role=quoted))


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook: skip asyncpg's default reset query.

    The default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release — a second round trip for every stored message. Our code never leaves
    session state behind (no session advisory locks, cursors, LISTEN or SET; the migration
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


def database_name(url: str) -> str:
    """The database a postgresql:// URL names (empty if it names none)."""
    head = url.partition("?")[0]
    return head.split("://", 1)[1].partition("/")[2]


def with_database(url: str, name: str) -> str:
    """Swap the database name in a postgresql:// URL (which may carry ?host=/socket/dir)."""
    head, sep, query = url.partition("?")
    scheme, rest = head.split("://", 1)
    authority, _, _old = rest.partition("/")
    return f"{scheme}://{authority}/{name}{sep}{query}"
