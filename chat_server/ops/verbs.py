"""What every admin verb shares: exit statuses, the one-line error, running the work.

Every handler is `(settings, args) -> int`: 0 done, 1 refused or not found, 2 bad input or
configuration. They use DATABASE_URL / REDIS_URL when set, else the embedded servers
under the data directory (the same ones `yizhan dev` uses, shared while it runs).
Passwords are read from stdin or a prompt, never from argv (argv is visible in `ps`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg

from chat_server import db
from chat_server.config import Settings
from chat_server.ops.backends import backends, terminate_as_exit
from yizhan_errors import YizhanError

OK, REFUSED, BAD_INPUT = 0, 1, 2


class AdminError(YizhanError):
    """Ends a verb with a one-line message and an exit status."""

    def __init__(self, message: str, status: int = REFUSED) -> None:
        super().__init__(message)
        self.status = status


def run(
    verb: str, settings: Settings, work: Callable[[Settings], Coroutine[Any, Any, int]]
) -> int:
    """Resolve the servers (embedded if URLs are unset), run `work`, report AdminError."""
    try:
        if settings.database_url and settings.redis_url:
            # Nothing embedded to stop on SIGTERM (and signal handlers are main-thread only).
            return asyncio.run(work(settings))
        with terminate_as_exit(), backends(settings) as resolved:
            return asyncio.run(work(resolved))
    except AdminError as exc:
        print(f"yizhan {verb}: {exc}", file=sys.stderr)
        return exc.status


@contextlib.asynccontextmanager
async def connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """One connection for a verb, closed whatever happens."""
    if not settings.database_url:
        raise AdminError("DATABASE_URL is not set", BAD_INPUT)
    conn = await asyncpg.connect(settings.database_url)
    try:
        # Admin verbs run no DDL: their role may have data rights only.
        await check_schema(conn)
        yield conn
    finally:
        await conn.close()


async def check_schema(conn: asyncpg.Connection) -> None:
    try:
        await db.check_version(conn)
    except db.SchemaError as exc:
        raise AdminError(str(exc)) from None


def read_password(username: str) -> str:
    """A prompt (twice) on a terminal; otherwise the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"new password for {username}: ")
        if getpass.getpass("again: ") != first:
            raise AdminError("the two passwords differ", BAD_INPUT)
        return first
    line = sys.stdin.readline()
    if not line:
        raise AdminError("no password on stdin", BAD_INPUT)
    return line.rstrip("\r\n")


def confirm(question: str, word: str) -> bool:
    """Ask on a terminal; without one (a script) there is no one to ask: give --yes."""
    if not sys.stdin.isatty():
        return False
    try:
        return input(question).strip() == word
    except EOFError:
        return False
