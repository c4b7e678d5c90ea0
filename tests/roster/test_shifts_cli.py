"""`yizhan shifts` against the real database: pattern, export, malformed import, coverage."""

from __future__ import annotations

import asyncio

import pytest

from chat_server import cli
from chat_server.accounts.sessions import SessionStore
from chat_server.config import Settings
from chat_server.wire.protocol import Role
from crypto.keyring import KeyRing
from crypto.pseudonym import CardRule
from tests.clients import PASSWORD


@pytest.fixture
def env(clean, backend_urls, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", backend_urls[0])
    monkeypatch.setenv("REDIS_URL", backend_urls[1])
    monkeypatch.setenv("YIZHAN_DATA_DIR", str(tmp_path))

    async def make() -> None:
        from chat_server import db

        pool = await db.create_pool(backend_urls[0], min_size=1, max_size=2)
        store = SessionStore(pool, KeyRing.generate(), CardRule.parse(Settings().card_rule))
        await store.create_staff("lin.cli", "小林", Role.COUNSELOR, PASSWORD)
        await pool.close()

    return make


async def test_cli_round_trip_and_refusal(env, tmp_path, capsys) -> None:
    await env()

    def run(*argv: str) -> int:
        return cli.main(list(argv))

    assert await asyncio.to_thread(
        run, "shifts", "pattern", "--user", "lin.cli", "--days", "mon-fri", "18:00", "24:00") == 0
    assert await asyncio.to_thread(
        run, "shifts", "pattern", "--user", "lin.cli", "--days", "fri", "20:00", "22:00") == 1
    assert "overlaps" in capsys.readouterr().err
    out = tmp_path / "dec.csv"
    assert await asyncio.to_thread(
        run, "shifts", "export", "--from", "2026-12-01", "--to", "2026-12-31", "-o", str(out)) == 0
    text = out.read_text(encoding="utf-8-sig")
    assert text.count("lin.cli") == 23
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace("2026-12-02,lin.cli", "2026-12-02,nobody"), encoding="utf-8")
    assert await asyncio.to_thread(
        run, "shifts", "import", str(bad), "--from", "2026-12-01", "--to", "2026-12-31") == 2
    assert "line 3: unknown username" in capsys.readouterr().err
    assert await asyncio.to_thread(
        run, "shifts", "coverage", "--date", "2026-12-01") == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("GAP 2026-12-01 10:00")
