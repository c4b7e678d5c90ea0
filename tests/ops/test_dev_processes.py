"""`yizhan dev` as a real process: serves, keeps its data, and never leaves servers behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

YIZHAN = Path(sys.executable).parent / "yizhan"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def server_pids(data_dir: Path) -> list[int | None]:
    """The embedded postmaster's and Valkey's pids, read from their pid files."""
    pids: list[int | None] = []
    for path in (data_dir / "postgres" / "postmaster.pid", data_dir / "valkey" / "valkey.pid"):
        try:
            pids.append(int(path.read_text().splitlines()[0]))
        except (OSError, ValueError, IndexError):
            pids.append(None)
    return pids


class Dev:
    """One `yizhan dev` process with its output in a file (a pipe nobody reads can fill up)."""

    def __init__(self, data_dir: Path, port: int, run: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"dev-{run}.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("YIZHAN_", "DATABASE_", "REDIS_")) and k != "PORT"}
        env.update(YIZHAN_DATA_DIR=str(data_dir), PORT=str(port))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(YIZHAN), "dev"], env=env, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=data_dir.parent)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"yizhan dev exited with {self.proc.returncode}:\n"
                                     f"{self.output()[-3000:]}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("yizhan dev did not answer /healthz in time")

    def stop(self, sig: int = signal.SIGTERM, within: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(within)


def sign_in(base: str, username: str, password: str) -> int:
    origin = base
    r = httpx.post(base + "/api/staff/session", json={"username": username,
                                                      "password": password},
                   headers={"Origin": origin}, timeout=10)
    return r.status_code


def test_dev_lifecycle(server_tmp: Path) -> None:
    data_dir = server_tmp / "var"
    port = free_port()
    marker = str(data_dir)

    # First run: everything is created; the page, health and readiness answer.
    dev = Dev(data_dir, port, 1)
    try:
        dev.wait_healthy()
        assert httpx.get(dev.base + "/readyz", timeout=5).status_code == 200
        page = httpx.get(dev.base + "/", timeout=5)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    finally:
        status = dev.stop()
    first_output = dev.output()
    # A requested stop is a clean exit: uvicorn drains and returns, status 0.
    assert status == 0, "yizhan dev did not exit cleanly on SIGTERM"
    accounts = data_dir / "demo-accounts.txt"
    assert accounts.stat().st_mode & 0o777 == 0o600
    assert (data_dir / "keys.json").stat().st_mode & 0o777 == 0o600
    passwords = dict(line.split("\t") for line in accounts.read_text().splitlines()
                     if line and not line.startswith("#"))
    assert set(passwords) == {"demo-counselor", "demo-supervisor"}
    assert "demo-counselor" in first_output and str(accounts) in first_output
    assert not any(pw in first_output for pw in passwords.values())
    assert processes_mentioning(marker) == [], "a server outlived yizhan dev"

    # Second run sees the first run's data: the demo account still signs in, and the
    # accounts are not created again.
    dev = Dev(data_dir, port, 2)
    try:
        dev.wait_healthy()
        assert sign_in(dev.base, "demo-counselor", passwords["demo-counselor"]) == 201
        pg_pid, valkey_pid = server_pids(data_dir)
        assert alive(pg_pid) and alive(valkey_pid)
    finally:
        dev.stop(signal.SIGKILL)
    assert "created demo accounts" not in dev.output()
    # SIGKILL runs no clean-up: the servers are orphans now.
    assert alive(pg_pid) and alive(valkey_pid)

    # Third run adopts or replaces the orphans and, on SIGTERM, stops everything.
    dev = Dev(data_dir, port, 3)
    try:
        dev.wait_healthy()
        assert httpx.get(dev.base + "/readyz", timeout=5).status_code == 200
        assert sign_in(dev.base, "demo-supervisor", passwords["demo-supervisor"]) == 201
    finally:
        status = dev.stop()
    assert status == 0
    deadline = time.monotonic() + 10
    while processes_mentioning(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(marker) == [], "a server outlived yizhan dev"
    assert not alive(pg_pid) and not alive(valkey_pid)


def test_dev_restarts_an_embedded_server_that_died(server_tmp: Path) -> None:
    data_dir = server_tmp / "var"
    dev = Dev(data_dir, free_port(), 1)
    try:
        dev.wait_healthy()
        output = dev.output()
        # How a second node reaches the same stores is printed at start.
        assert "a second node on the same stores" in output and "/yizhan?" in output
        for index, name in ((1, "valkey"), (0, "postgresql")):
            before = server_pids(data_dir)[index]
            assert before is not None
            os.kill(before, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                now = server_pids(data_dir)[index]
                if (now not in (None, before) and alive(now)
                        and f"embedded {name} had stopped; restarted it" in dev.output()):
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"embedded {name} was not restarted")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(dev.base + "/readyz", timeout=5).status_code == 200:
                        break
                time.sleep(0.2)
            else:
                raise AssertionError(f"not ready again after {name} was restarted")
    finally:
        assert dev.stop() == 0
    assert processes_mentioning(str(data_dir)) == [], "a server outlived yizhan dev"
