"""KEK rotation, retirement and shredding against real PostgreSQL, 10,000 messages."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from chat_server import cli, db
from chat_server.chat.store import ConversationStore
from chat_server.config import Settings
from chat_server.ops import keys as keyops
from chat_server.vault import open_text, seal_text
from crypto.envelope import Aad, Sealed, Vault, open_sealed
from crypto.errors import CryptoError
from crypto.keyring import KeyRing, WrappedKey, load_or_create

CONVERSATIONS = 1000
PER_CONVERSATION = 10  # 10,000 messages in all
BATCH = 300


def _text(i: int, seq: int) -> str:
    return f"对话 {i} 第 {seq} 条"


SEEDED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


async def seed(pg: asyncpg.Connection, ring: KeyRing) -> list[uuid.UUID]:
    """Ended conversations with sealed messages, bulk-copied in; returns conversation ids."""
    vault = Vault(ring)
    worker = await pg.fetchval(
        "INSERT INTO workers (pepper_version, pseudonym, alias, created_at)"
        " VALUES (1, $1, 'w', $2) RETURNING id", b"\x01" * 32, SEEDED_AT)
    keys, convs, msgs = [], [], []
    for i in range(CONVERSATIONS):
        key_id, conv_id = uuid.uuid4(), uuid.uuid4()
        wrapped = vault.new_conversation_key()
        keys.append((key_id, wrapped.kek_version, wrapped.wrapped, SEEDED_AT))
        convs.append((conv_id, worker, key_id, "ended", PER_CONVERSATION, SEEDED_AT, SEEDED_AT))
        for seq in range(1, PER_CONVERSATION + 1):
            role = "worker" if seq % 2 else "counselor"
            sealed = seal_text(vault, wrapped, str(conv_id), seq, role, _text(i, seq))
            msgs.append((conv_id, seq, f"c{seq}", role, 1, sealed.nonce, sealed.ciphertext,
                         SEEDED_AT))
    await pg.copy_records_to_table("data_keys", records=keys,
                                   columns=["id", "kek_version", "wrapped", "created_at"])
    await pg.copy_records_to_table(
        "conversations", records=convs,
        columns=["id", "worker_id", "data_key_id", "status", "last_seq", "queued_at",
                 "created_at"])
    await pg.copy_records_to_table(
        "messages", records=msgs,
        columns=["conversation_id", "seq", "client_id", "sender_role", "key_version", "nonce",
                 "ciphertext", "created_at"])
    return [c[0] for c in convs]


async def decrypt_all(pg: asyncpg.Connection, ring: KeyRing, ids: list[uuid.UUID]) -> int:
    """Open every message with `ring`; asserts each text; returns how many were opened."""
    vault = Vault(ring)
    index = {cid: i for i, cid in enumerate(ids)}
    rows = await pg.fetch(
        "SELECT m.conversation_id, m.seq, m.sender_role, m.nonce, m.ciphertext,"
        " k.kek_version, k.wrapped FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id JOIN data_keys k ON k.id = c.data_key_id"
        " WHERE k.wrapped IS NOT NULL")
    for r in rows:
        text = open_text(vault, WrappedKey(r["kek_version"], r["wrapped"]),
                         str(r["conversation_id"]), r["seq"], r["sender_role"], r["nonce"],
                         r["ciphertext"])
        if text != _text(index[r["conversation_id"]], r["seq"]):
            raise AssertionError("a message decrypted to the wrong text")
    return len(rows)


async def messages_digest(pg: asyncpg.Connection) -> str:
    return await pg.fetchval(
        "SELECT md5(string_agg(nonce || ciphertext, ''::bytea ORDER BY conversation_id, seq))"
        " FROM messages")


@pytest.fixture
def ring_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings with a key file of this test's own: rotation writes to it."""
    path = tmp_path / "ring" / "keys.json"
    load_or_create(path)
    return settings.replace(key_file=path, dev=False)


async def verb(settings: Settings, *argv: str) -> int:
    args = cli.build_parser().parse_args(list(argv))
    return await asyncio.to_thread(args.handler, settings, args)


async def test_rotation_rewraps_keys_only_and_everything_still_opens(
    pg: asyncpg.Connection, ring_settings: Settings, capfd
) -> None:
    path = ring_settings.key_path
    old_ring = KeyRing.load(path)
    ids = await seed(pg, old_ring)
    before = await messages_digest(pg)

    assert await verb(ring_settings, "keys", "rotate", "--batch", str(BATCH)) == 0
    ring = KeyRing.load(path)
    assert ring.active_kek_version == 2 and set(ring.kek_versions) == {1, 2}
    usage = {u.kek_version: u.live for u in await keyops.usage(pg)}
    assert usage == {2: CONVERSATIONS}
    # Rewrapping never touches a message.
    assert await messages_digest(pg) == before
    assert await decrypt_all(pg, ring, ids) == CONVERSATIONS * PER_CONVERSATION
    out = capfd.readouterr().out
    assert f"{CONVERSATIONS} data key(s) rewrapped" in out

    # v1 is no longer used: retire it; the ring file loses the key and remembers the number.
    assert await verb(ring_settings, "keys", "retire", "1") == 0
    ring = KeyRing.load(path)
    assert ring.kek_versions == (2,) and ring.retired_kek_versions == (1,)
    assert await decrypt_all(pg, ring, ids) == CONVERSATIONS * PER_CONVERSATION
    assert await verb(ring_settings, "keys", "status") == 0


async def test_interrupted_rotation_resumes(pg: asyncpg.Connection,
                                            ring_settings: Settings) -> None:
    path = ring_settings.key_path
    ids = await seed(pg, KeyRing.load(path))
    ring = KeyRing.load(path).with_new_kek()
    ring.save(path)

    class Interrupted(Exception):
        pass

    def stop_after_first(count: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await keyops.rewrap_all(pg, ring, batch=BATCH, on_batch=stop_after_first)
    usage = {u.kek_version: u.live for u in await keyops.usage(pg)}
    assert usage == {1: CONVERSATIONS - BATCH, 2: BATCH}

    # Retiring the old KEK now would strand data keys: refused, ring unchanged.
    assert await verb(ring_settings, "keys", "retire", "1") == 1
    assert KeyRing.load(path).kek_versions == (1, 2)
    # Status warns nothing (every version is in the ring) but counts what is pending.
    assert await verb(ring_settings, "keys", "status") == 0

    assert await verb(ring_settings, "keys", "rotate", "--rewrap-only",
                      "--batch", str(BATCH)) == 0
    assert {u.kek_version: u.live for u in await keyops.usage(pg)} == {2: CONVERSATIONS}
    assert await decrypt_all(pg, KeyRing.load(path), ids) == CONVERSATIONS * PER_CONVERSATION
    assert await verb(ring_settings, "keys", "retire", "1") == 0
    # The active version can never be retired.
    assert await verb(ring_settings, "keys", "retire", "2") == 1


async def test_environment_ring_is_written_to_a_new_file_never_printed(
    pg: asyncpg.Connection, ring_settings: Settings, tmp_path: Path, capfd
) -> None:
    ring = KeyRing.load(ring_settings.key_path)
    env_settings = ring_settings.replace(key_ring_json=ring.to_json(), key_file=None)
    assert await verb(env_settings, "keys", "rotate") == 2  # no --ring-out: refused
    out_path = tmp_path / "new-ring.json"
    assert await verb(env_settings, "keys", "rotate", "--ring-out", str(out_path)) == 0
    assert out_path.stat().st_mode & 0o777 == 0o600
    new = KeyRing.load(out_path)
    assert new.active_kek_version == 2
    printed = capfd.readouterr()
    ring_keys = json.loads(new.to_json())["kek"]["keys"].values()
    assert len(ring_keys) == 2
    assert not any(key in printed.out + printed.err for key in ring_keys)
    # Refuses to overwrite.
    assert await verb(env_settings, "keys", "rotate", "--ring-out", str(out_path)) == 2


async def test_shredding_makes_a_transcript_unreadable(
    pg: asyncpg.Connection, ring_settings: Settings, settings: Settings
) -> None:
    ring = KeyRing.load(ring_settings.key_path)
    ids = (await seed(pg, ring))[:3]
    await pg.execute("DELETE FROM conversations WHERE NOT (id = ANY($1::uuid[]))", ids)
    target = ids[0]
    # No terminal to confirm on and no --yes: refused, nothing destroyed.
    assert await verb(ring_settings, "conversations", "shred", str(target)) == 1
    assert await pg.fetchval("SELECT count(*) FROM data_keys WHERE wrapped IS NULL") == 0
    assert await verb(ring_settings, "conversations", "shred", str(target), "--yes") == 0
    assert await verb(ring_settings, "conversations", "shred", str(target), "--yes") == 0
    assert await verb(ring_settings, "conversations", "shred", "not-a-uuid", "--yes") == 2
    assert await verb(ring_settings, "conversations", "shred", str(uuid.uuid4()), "--yes") == 1

    row = await pg.fetchrow("SELECT k.wrapped, k.shredded_at FROM conversations c"
                            " JOIN data_keys k ON k.id = c.data_key_id WHERE c.id = $1", target)
    assert row["wrapped"] is None and row["shredded_at"] is not None
    assert await pg.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1",
                             target) == PER_CONVERSATION
    assert await pg.fetchval("SELECT count(*) FROM audit_log WHERE action = 'shred'") == 1

    # The application reads nothing back.
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        store = ConversationStore(pool, Vault(ring))
        assert await store.messages_after(str(target), 0) == []
        assert await store.wrapped_key(str(target)) is None
    finally:
        await pool.close()
    # No key anywhere opens it: every KEK of the ring used directly, and every data key
    # that still exists, each against every shredded message.
    rotated = ring.with_new_kek()
    candidates = [ring._kek.keys[v] for v in ring.kek_versions]  # test-only peek
    candidates += [rotated._kek.keys[v] for v in rotated.kek_versions]
    for r in await pg.fetch("SELECT kek_version, wrapped FROM data_keys"
                            " WHERE wrapped IS NOT NULL"):
        candidates.append(ring.unwrap(WrappedKey(r["kek_version"], r["wrapped"])))
    rows = await pg.fetch("SELECT seq, sender_role, nonce, ciphertext FROM messages"
                          " WHERE conversation_id = $1", target)
    for r in rows:
        aad = Aad(str(target), r["seq"], r["sender_role"], 1)
        for key in candidates:
            with pytest.raises(CryptoError):
                open_sealed(key, Sealed(r["nonce"], r["ciphertext"]), aad)
    # The other conversations are untouched.
    assert await decrypt_all(pg, ring, ids) == 2 * PER_CONVERSATION
    # An open conversation is refused: its participants still write with that key.
    await pg.execute("UPDATE conversations SET status = 'active' WHERE id = $1", ids[1])
    assert await verb(ring_settings, "conversations", "shred", str(ids[1]), "--yes") == 1
