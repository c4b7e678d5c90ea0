"""Start-up waits for PostgreSQL and Redis with backoff, one log line per attempt."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from chat_server import startup


async def test_retries_with_growing_pauses_then_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []

    async def no_sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(startup.asyncio, "sleep", no_sleep)
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionRefusedError("refused")

    with caplog.at_level(logging.INFO, logger="yizhan.startup"):
        await startup.retry("postgres", attempt, wait_s=60)
    assert calls == 4
    assert pauses == [0.5, 1.0, 2.0]
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.fields["attempt"] for r in retries] == [1, 2, 3]  # type: ignore[attr-defined]
    assert caplog.records[-1].getMessage() == "postgres reachable"


async def test_gives_up_after_the_configured_time(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never() -> None:
        raise TimeoutError

    with pytest.raises(startup.Unavailable, match="redis did not answer within 0 s"):
        await startup.retry("redis", never, wait_s=0)


async def test_a_wrong_password_is_not_waited_for() -> None:
    import asyncpg

    async def bad_auth() -> None:
        raise asyncpg.InvalidPasswordError("password authentication failed")

    with pytest.raises(asyncpg.InvalidPasswordError):
        await startup.retry("postgres", bad_auth, wait_s=60)


def test_serve_logs_each_attempt_and_exits_3_without_echoing_the_url(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    from crypto.keyring import load_or_create

    load_or_create(tmp_path / "keys.json")
    env = {**os.environ,
           "DATABASE_URL": f"postgresql://yz:hunter2secret@127.0.0.1:{port}/yizhan",
           "REDIS_URL": f"redis://127.0.0.1:{port}/0",
           "YIZHAN_KEY_FILE": str(tmp_path / "keys.json"), "YIZHAN_STARTUP_WAIT": "2"}
    done = subprocess.run([sys.executable, "-m", "chat_server.cli", "serve"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    attempts = [line for line in lines if "not reachable yet" in line]
    assert len(attempts) >= 2
    assert all(json.loads(line)["logger"] == "yizhan.startup" for line in attempts)
    assert "did not answer within 2 s" in lines[-1]
    assert "hunter2secret" not in done.stderr and "Traceback" not in done.stderr


