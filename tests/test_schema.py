from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from chat_server import db


@pytest.fixture
async def scratch(backend_urls: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a brand-new, empty database, dropped afterwards."""
    name = f"schema_{uuid.uuid4().hex[:12]}"
    url = await db.ensure_database(backend_urls[0], name)
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()
        admin = await asyncpg.connect(backend_urls[0])
        try:
            await admin.execute(f'DROP DATABASE "{name}"')
        finally:
            await admin.close()


async def _layout(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY 1, 2"
    )
    return [tuple(r) for r in rows]


async def test_applying_twice_changes_nothing_and_keeps_data(scratch: asyncpg.Connection) -> None:
    await db.apply_schema(scratch)
    first = await _layout(scratch)
    indexes = await scratch.fetchval("SELECT count(*) FROM pg_indexes WHERE schemaname='public'")
    await scratch.execute(
        "INSERT INTO staff (username, display_name, role, password_hash, created_at)"
        " VALUES ('keep-me', 'x', 'counselor', 'h', '2026-01-01T00:00:00Z')"
    )
    await db.apply_schema(scratch)
    assert await _layout(scratch) == first
    assert "messages" in {t for t, _, _ in first}
    assert await scratch.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE schemaname='public'") == indexes
    assert await scratch.fetchval("SELECT count(*) FROM staff") == 1
    assert await scratch.fetchval("SELECT version FROM schema_meta") == db.SCHEMA_VERSION


async def test_a_newer_schema_is_refused(scratch: asyncpg.Connection) -> None:
    await db.apply_schema(scratch)
    await scratch.execute("UPDATE schema_meta SET version = $1", db.SCHEMA_VERSION + 1)
    with pytest.raises(db.SchemaTooNew) as caught:
        await db.apply_schema(scratch)
    assert caught.value.found == db.SCHEMA_VERSION + 1
    # Refused means untouched: the newer code's version mark stays.
    assert await scratch.fetchval("SELECT version FROM schema_meta") == db.SCHEMA_VERSION + 1
