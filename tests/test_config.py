from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chat_server.config import Settings, SettingsError

YIZHAN = Path(sys.executable).parent / "yizhan"


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.port == 8000
    assert s.timezone == "Asia/Shanghai"
    assert s.open_time == dt.time(10, 0) and s.close_time is None
    assert s.database_url is None and s.redis_url is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("YIZHAN_TIMEZONE", "Mars/Olympus"),
        ("YIZHAN_OPEN_TIME", "10h"),
        ("YIZHAN_CLOSE_TIME", "25:99"),
        ("YIZHAN_MAX_TEXT_CHARS", "0"),
        ("YIZHAN_LOG_JSON", "perhaps"),
        ("YIZHAN_CLOSED_DAYS", "2026-13-01"),
        ("YIZHAN_ALLOWED_ORIGINS", "ftp://x"),
    ],
)
def test_errors_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


@pytest.mark.parametrize("variable", ["DATABASE_URL", "REDIS_URL"])
def test_bad_url_scheme_names_the_variable_without_echoing_it(variable: str) -> None:
    secret = "mysql://admin:hunter2-secret@db.internal/x"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: secret})
    assert caught.value.variable == variable
    assert "hunter2" not in str(caught.value) and "db.internal" not in str(caught.value)


def test_good_values_parse() -> None:
    s = Settings.from_env({
        "PORT": "9001", "YIZHAN_OPEN_TIME": "09:30", "YIZHAN_CLOSE_TIME": "22:00",
        "DATABASE_URL": "postgresql://u@h/d", "REDIS_URL": "redis://h:6379/0",
        "YIZHAN_CLOSED_DAYS": "2026-02-17, 2026-02-16",
    })
    assert s.port == 9001 and s.open_time == dt.time(9, 30) and s.close_time == dt.time(22)
    assert s.closed_days == (dt.date(2026, 2, 16), dt.date(2026, 2, 17))
    assert s.allowed_origins == ("http://127.0.0.1:9001", "http://localhost:9001")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("YIZHAN_", "DATABASE_", "REDIS_")) and k != "PORT"}
    return subprocess.run([str(YIZHAN), *args], env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def test_cli_exits_2_with_one_line_on_a_bad_value() -> None:
    done = _run({"PORT": "not-a-port"}, "serve")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "PORT" in lines[0] and "Traceback" not in done.stderr


def test_cli_bad_url_is_not_echoed() -> None:
    done = _run({"DATABASE_URL": "mysql://root:s3cr3t-pw@db/x"}, "serve")
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr and "s3cr3t" not in done.stderr + done.stdout


def test_serve_without_urls_names_what_is_missing(tmp_path: Path) -> None:
    done = _run({"YIZHAN_DATA_DIR": str(tmp_path)}, "serve")
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr and "REDIS_URL" in done.stderr
    assert "YIZHAN_KEY_RING" in done.stderr
    done = _run({"REDIS_URL": "redis://127.0.0.1:1/0", "YIZHAN_KEY_FILE": str(tmp_path / "k")},
                "serve")
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr and "REDIS_URL" not in done.stderr
