"""Shared fixtures: real PostgreSQL and Redis (embedded unless URLs are given), clean per test."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
import uvicorn

from chat_server import db
from chat_server.clock import system_clock
from chat_server.config import Settings

ORIGIN = "http://127.0.0.1"


def refuse_unless_a_test_database(url: str) -> None:
    """The tests empty every table and flush Redis: never let them near real data."""
    name = db.database_name(url)
    if "test" not in name:
        pytest.exit(f"YIZHAN_TEST_DATABASE_URL names database {name!r}; the tests empty it, "
                    "so its name must contain 'test'", returncode=2)


@pytest.fixture(scope="session")
def backend_urls() -> Iterator[tuple[str, str]]:
    """(database_url, redis_url) of servers that live for the whole test session."""
    db_url = os.environ.get("YIZHAN_TEST_DATABASE_URL")
    redis_url = os.environ.get("YIZHAN_TEST_REDIS_URL")
    if db_url and redis_url:
        refuse_unless_a_test_database(db_url)
        yield db_url, redis_url
        return
    from chat_server.ops.embedded import EmbeddedServers
    with private_tmp() as private, EmbeddedServers(private / "servers") as servers:
        url = asyncio.run(db.ensure_database(servers.database_url, "yizhan_test"))
        yield url, servers.redis_url


@contextlib.contextmanager
def private_tmp() -> Iterator[Path]:
    """A folder for embedded servers, outside pytest's basetemp, removed afterwards.

    pytest keeps only the three newest basetemps, so a second run started beside this one
    would delete our servers' data; and as root the embedded PostgreSQL runs as its own
    user, who must traverse every folder above its data, while any pytest starting on this
    machine makes /tmp/pytest-of-root 0700 again (initdb failed on pg_control).
    """
    path = Path(tempfile.mkdtemp(prefix="yizhan-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server_tmp() -> Iterator[Path]:
    """private_tmp() for one test that starts embedded servers itself."""
    with private_tmp() as path:
        yield path


@pytest.fixture(scope="session")
def embedded_servers(backend_urls: tuple[str, str]) -> tuple[str, str]:
    return backend_urls


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crypto.keyring import load_or_create

    path = tmp_path_factory.mktemp("keys") / "keys.json"
    load_or_create(path)
    return path


@pytest.fixture
def settings(backend_urls: tuple[str, str], key_file: Path, tmp_path: Path) -> Settings:
    db_url, redis_url = backend_urls
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        data_dir=tmp_path,
        key_file=key_file,
        allowed_origins=(ORIGIN,),
        # Always open unless a test says otherwise: tests run at any hour.
        open_time=dt.time(0, 0),
        # No roster in most tests; the roster tests turn this on.
        duty_requires_roster=False,
        dev=True,
    )


_schema_ready = False


@pytest.fixture
async def pg(backend_urls: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a clean database: migrated, every table emptied."""
    global _schema_ready
    conn = await asyncpg.connect(backend_urls[0])
    try:
        if not _schema_ready:
            await db.migrate(conn, system_clock())
            _schema_ready = True
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('schema_meta', 'schema_migrations')"
        )
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def redis(backend_urls: tuple[str, str]) -> AsyncIterator[aioredis.Redis]:
    """A client of an empty Redis."""
    client = aioredis.from_url(backend_urls[1], decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def clean(pg: asyncpg.Connection, redis: aioredis.Redis) -> None:
    """Both stores empty before the test."""


class RunningNode:
    """One app node served by uvicorn inside the test's event loop."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], settings: Settings,
                 app: Any):
        self.server = server
        self.app = app
        self.task = task
        self.settings = settings
        sock = server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"

    @property
    def node(self) -> Any:
        return self.app.state.parts.node

    @property
    def parts(self) -> Any:
        """Everything the node built (wiring.Parts): its chat core, crisis, roster..."""
        return self.app.state.parts

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10)


async def start_node(settings: Settings, port: int = 0) -> RunningNode:
    """Serve `settings` on 127.0.0.1:`port` (0: any free port, read it from `.port`)."""
    from chat_server.websocket_server import DrainingServer, websocket_options
    from chat_server.wiring import build_app

    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        **websocket_options(settings.max_frame_bytes),
        log_config=None,
        access_log=False,
        # Test clients keep connections idle for seconds on a loaded machine; uvicorn's 5 s
        # keep-alive could close one just as a client reused it (httpx ReadError).
        timeout_keep_alive=120,
        lifespan="on",
        proxy_headers=False,  # as `yizhan serve`: the app trusts proxies by its settings
    )

    def stopping() -> None:
        parts = getattr(app.state, "parts", None)  # None until the lifespan started
        if parts is not None:
            parts.sockets.stop_taking()

    server = DrainingServer(config, lambda: app.state.parts.sockets.drain(), stopping)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("node did not start")
        await asyncio.sleep(0.01)
    return RunningNode(server, task, settings, app)


@pytest.fixture
async def node_factory(
    clean: None, settings: Settings
) -> AsyncIterator[Callable[..., Awaitable[RunningNode]]]:
    """Start app nodes (same stores); every node is stopped after the test."""
    nodes: list[RunningNode] = []

    async def factory(port: int = 0, **overrides: object) -> RunningNode:
        node = await start_node(settings.replace(**overrides), port=port)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        await node.stop()


@pytest.fixture
async def node(node_factory: Callable[..., Awaitable[RunningNode]]) -> RunningNode:
    return await node_factory()
