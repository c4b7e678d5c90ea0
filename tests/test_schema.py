"""Numbered migrations: `yizhan migrate` runs them; nodes and admin verbs only check."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from chat_server import db
from chat_server.clock import system_clock
from chat_server.config import Settings
from tests.clients import Worker
from tests.conftest import start_node


@pytest.fixture
async def scratch_url(backend_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A brand-new, empty database, dropped afterwards."""
    name = f"test_schema_{uuid.uuid4().hex[:12]}"
    url = await db.ensure_database(backend_urls[0], name)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(backend_urls[0])
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def scratch(scratch_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(scratch_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _layout(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY 1, 2"
    )
    return [tuple(r) for r in rows]


def test_migration_files_are_numbered_without_gaps() -> None:
    found = db.migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert db.latest_version() == len(found) >= 2


async def test_migrate_applies_each_file_once_and_keeps_data(scratch: asyncpg.Connection) -> None:
    applied = await db.migrate(scratch, system_clock())
    assert [m.version for m in applied] == list(range(1, db.latest_version() + 1))
    first = await _layout(scratch)
    await scratch.execute(
        "INSERT INTO staff (username, display_name, role, password_hash, created_at)"
        " VALUES ('keep-me', 'x', 'counselor', 'h', '2026-01-01T00:00:00Z')"
    )
    assert await db.migrate(scratch, system_clock()) == []
    assert await _layout(scratch) == first
    assert await scratch.fetchval("SELECT count(*) FROM staff") == 1
    assert await db.check_version(scratch) == db.latest_version()
    rows = await scratch.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
    assert [(r["version"], r["name"]) for r in rows] == [
        (m.version, m.name) for m in db.migrations()]


async def test_two_migrate_runs_at_once_apply_each_file_once(scratch_url: str) -> None:
    conns = [await asyncpg.connect(scratch_url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(db.migrate(c, system_clock()) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(m.version for r in results for m in r) == list(
        range(1, db.latest_version() + 1))


async def test_a_database_from_before_migrations_is_adopted(scratch: asyncpg.Connection) -> None:
    # What the start-up schema step of older code left: 0001's statements, schema_meta = 1.
    await scratch.execute(db.migrations()[0].sql)
    await scratch.execute("INSERT INTO schema_meta VALUES (true, 1)")
    await scratch.execute("ALTER TABLE staff ALTER COLUMN created_at SET DEFAULT now()")
    with pytest.raises(db.SchemaTooOld):
        await db.check_version(scratch)
    await db.migrate(scratch, system_clock())
    assert await db.check_version(scratch) == db.latest_version()
    # 0001 drops the time defaults such a database may still have (one clock)...
    assert await scratch.fetchval(
        "SELECT column_default FROM information_schema.columns"
        " WHERE table_name = 'staff' AND column_name = 'created_at'") is None
    # ...and 0002 marks it so that the older code refuses it from now on.
    assert await scratch.fetchval("SELECT version FROM schema_meta") == 2


async def test_check_refuses_a_database_ahead_or_behind(scratch: asyncpg.Connection) -> None:
    with pytest.raises(db.SchemaTooOld, match="yizhan migrate"):
        await db.check_version(scratch)
    await db.migrate(scratch, system_clock())
    await scratch.execute(
        "INSERT INTO schema_migrations VALUES ($1, 'from_the_future', $2)",
        db.latest_version() + 1, system_clock())
    with pytest.raises(db.SchemaTooNew) as caught:
        await db.check_version(scratch)
    assert caught.value.found == db.latest_version() + 1
    with pytest.raises(db.SchemaTooNew):
        await db.migrate(scratch, system_clock())


async def yizhan(*args: str, env: dict[str, str], stdin: str = ""
                 ) -> subprocess.CompletedProcess[str]:
    """The `yizhan` command in its own process (its verbs run their own event loop)."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "chat_server.cli", *args], env=env,
        input=stdin, capture_output=True, text=True, timeout=60)


def _with_user(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest.split('@', 1)[-1]}"


@pytest.mark.slow
async def test_nodes_and_admin_verbs_need_data_rights_only(
    scratch: asyncpg.Connection, scratch_url: str, backend_urls: tuple[str, str],
    key_file: Path, settings: Settings,
) -> None:
    role = f"yz_runtime_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    owner = await asyncpg.connect(backend_urls[0])
    await owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        # `yizhan migrate --grant-to ROLE`, as OPERATIONS.md has the owner run it.
        env = {**os.environ, "DATABASE_URL": scratch_url, "REDIS_URL": backend_urls[1],
               "YIZHAN_KEY_FILE": str(key_file)}
        done = await yizhan("migrate", "--grant-to", role, env=env)
        assert done.returncode == 0, done.stderr
        assert f"schema at version {db.latest_version()}" in done.stdout
        runtime_url = _with_user(scratch_url, role, password)
        runtime = await asyncpg.connect(runtime_url)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await runtime.execute("CREATE TABLE intruder (x int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await runtime.execute("ALTER TABLE staff ADD COLUMN intruder int")
        finally:
            await runtime.close()

        env["DATABASE_URL"] = runtime_url
        added = await yizhan("staff", "add", "--username", "rights.test", "--display-name",
                             "测试", "--role", "counselor", env=env,
                             stdin="a long passphrase 4 tests\n")
        assert added.returncode == 0, added.stderr
        listed = await yizhan("staff", "list", env=env)
        assert listed.returncode == 0 and "rights.test" in listed.stdout, listed.stderr

        # A node on the runtime role: starts, stores what a worker does.
        node = await start_node(settings.replace(database_url=runtime_url))
        try:
            async with httpx.AsyncClient() as client:
                assert (await client.get(node.base + "/readyz")).status_code == 200
            worker = Worker(node.base)
            assert (await worker.sign_in()).status_code == 201
            await worker.connect()
            await worker.request_chat()
            await worker.close()
        finally:
            await node.stop()
        assert await scratch.fetchval("SELECT count(*) FROM conversations") == 1
    finally:
        await owner.close()


@pytest.fixture(autouse=True)
async def _drop_runtime_roles(backend_urls: tuple[str, str]) -> AsyncIterator[None]:
    """Set up before (so torn down after) the scratch database: the role goes last."""
    yield
    conn = await asyncpg.connect(backend_urls[0])
    try:
        roles = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE 'yz_runtime_%'")
        for r in roles:
            await conn.execute(f'DROP OWNED BY "{r["rolname"]}"')
            await conn.execute(f'DROP ROLE "{r["rolname"]}"')
    finally:
        await conn.close()


async def test_0005_gives_open_worker_sessions_an_alias_of_their_own(
        scratch: asyncpg.Connection) -> None:
    """A session signed in with the number alone before the upgrade must not keep the
    worker's alias (red team, finding 2); PINs chosen by workers are cleared (finding 1)."""
    import re

    for m in db.migrations()[:4]:
        await scratch.execute(m.sql)
    now = system_clock()
    worker = await scratch.fetchval(
        "INSERT INTO workers (pepper_version, pseudonym, alias, created_at)"
        " VALUES (1, '\\x01', '职工·ABCD', $1) RETURNING id", now)
    for i in range(6):
        await scratch.execute(
            "INSERT INTO sessions (token_hash, worker_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $3)", bytes([i]), worker, now)
    await scratch.execute(
        "INSERT INTO worker_devices (device_hash, worker_id, created_at, last_used_at,"
        " pin_digest) VALUES ('\\x09', $1, $2, $2, '\\x0102')", worker, now)
    await scratch.execute(db.migrations()[4].sql)
    aliases = [r["alias"] for r in await scratch.fetch("SELECT alias FROM sessions")]
    assert all(re.fullmatch(r"职工·[2-9A-HJ-NP-Z]{4}", a) for a in aliases), aliases
    assert len(set(aliases)) > 1  # drawn per session, not once
    assert await scratch.fetchval("SELECT pin_digest FROM worker_devices") is None
