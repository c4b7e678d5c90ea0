"""Admin verbs through the real argument parser and handlers, against the test stores."""

from __future__ import annotations

import asyncio
import io
import sys

import asyncpg
import pytest

from chat_server import cli
from chat_server.config import Settings
from tests.clients import PASSWORD, Staff, make_staff

NEW_PASSWORD = "quiet river lantern 42"


async def run_verb(settings: Settings, monkeypatch: pytest.MonkeyPatch, *argv: str,
                   stdin: str = "") -> int:
    """Parse argv like `yizhan` does and run the handler off the event loop."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    args = cli.build_parser().parse_args(list(argv))
    return await asyncio.to_thread(args.handler, settings, args)


async def test_staff_add_then_sign_in(node, settings, pg: asyncpg.Connection, monkeypatch,
                                      capfd) -> None:
    status = await run_verb(settings, monkeypatch, "staff", "add", "--username", "li.na",
                            "--display-name", "李娜", "--role", "counselor", "--capacity", "3",
                            stdin=NEW_PASSWORD + "\n")
    assert status == 0
    row = await pg.fetchrow("SELECT role, capacity, password_hash FROM staff"
                            " WHERE username = 'li.na'")
    assert row["role"] == "counselor" and row["capacity"] == 3
    assert row["password_hash"].startswith("$argon2id$")
    staff = Staff(node.base, "li.na", NEW_PASSWORD)
    try:
        assert (await staff.sign_in()).status_code == 201
    finally:
        await staff.close()
    out, err = capfd.readouterr()
    assert NEW_PASSWORD not in out + err


@pytest.mark.parametrize("password", ["Ab1!x", "password123456", "li.na is my name ok"])
async def test_weak_password_is_refused_clearly(settings, pg, monkeypatch, capfd,
                                                password: str) -> None:
    status = await run_verb(settings, monkeypatch, "staff", "add", "--username", "li.na",
                            "--display-name", "李娜", "--role", "counselor", stdin=password)
    assert status == 2
    err = capfd.readouterr().err
    assert "password refused" in err and password not in err
    assert await pg.fetchval("SELECT count(*) FROM staff") == 0


async def test_duplicate_and_unknown_names_are_refused(settings, pg, monkeypatch) -> None:
    argv = ("staff", "add", "--username", "wang", "--display-name", "王", "--role", "supervisor")
    assert await run_verb(settings, monkeypatch, *argv, stdin=NEW_PASSWORD) == 0
    assert await run_verb(settings, monkeypatch, *argv, stdin=NEW_PASSWORD) == 1
    assert await run_verb(settings, monkeypatch, "staff", "disable", "nobody") == 1
    assert await run_verb(settings, monkeypatch, "staff", "reset-password", "nobody",
                          stdin=NEW_PASSWORD) == 1
    bad_role = ("staff", "add", "--username", "x1", "--display-name", "x", "--role", "boss")
    with pytest.raises(SystemExit) as caught:
        await run_verb(settings, monkeypatch, *bad_role)
    assert caught.value.code == 2


async def test_disable_closes_a_connected_counselor_within_seconds(
    node, settings, monkeypatch
) -> None:
    counselor = await make_staff(node, "counselor")
    ws = await counselor.connect()
    try:
        started = asyncio.get_running_loop().time()
        assert await run_verb(settings, monkeypatch, "staff", "disable",
                              counselor.username) == 0
        await asyncio.wait_for(ws.ws.wait_closed(), 5)
        assert ws.ws.close_code == 4401
        assert asyncio.get_running_loop().time() - started < 5
        again = Staff(node.base, counselor.username, PASSWORD)
        try:
            assert (await again.sign_in()).status_code == 401
        finally:
            await again.close()
    finally:
        await counselor.close()


async def test_reset_password_ends_sessions(node, settings, monkeypatch) -> None:
    counselor = await make_staff(node, "counselor")
    ws = await counselor.connect()
    try:
        assert await run_verb(settings, monkeypatch, "staff", "reset-password",
                              counselor.username, stdin=NEW_PASSWORD) == 0
        await asyncio.wait_for(ws.ws.wait_closed(), 5)
        assert ws.ws.close_code == 4401
        old = Staff(node.base, counselor.username, PASSWORD)
        new = Staff(node.base, counselor.username, NEW_PASSWORD)
        try:
            assert (await old.sign_in()).status_code == 401
            assert (await new.sign_in()).status_code == 201
        finally:
            await old.close()
            await new.close()
    finally:
        await counselor.close()


async def test_list_shows_accounts_and_no_secrets(node, settings, monkeypatch, capfd) -> None:
    await (await make_staff(node, "supervisor", name="sup-a")).close()
    counselor = await make_staff(node, "counselor", name="coun-b")
    await counselor.close()
    assert await run_verb(settings, monkeypatch, "staff", "disable", "coun-b") == 0
    capfd.readouterr()
    assert await run_verb(settings, monkeypatch, "staff", "list") == 0
    out = capfd.readouterr().out
    assert "sup-a" in out and "coun-b" in out and "disabled" in out
    assert "argon2" not in out and PASSWORD not in out
