"""`yizhan`: serve (production), dev (embedded servers), and admin verbs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from chat_server import logs
from chat_server.config import Settings, SettingsError

log = logging.getLogger("yizhan.cli")

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"yizhan: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    handler = args.handler
    return int(handler(settings, args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yizhan", description="驿站 Yizhan counseling chat")
    verbs = parser.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="production: needs DATABASE_URL, REDIS_URL, keys")
    serve.set_defaults(handler=cmd_serve)
    dev = verbs.add_parser("dev", help="development: embedded PostgreSQL and Valkey under ./var")
    dev.set_defaults(handler=cmd_dev)
    from chat_server import admin  # admin verbs live in their own module

    admin.add_verbs(verbs)
    return parser


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
    from chat_server.embedded import EmbeddedServers
    servers = EmbeddedServers(settings.data_dir)
    stop = threading.Event()
    with servers:
        database_url = settings.database_url
        if database_url is None:
            from chat_server.db import ensure_database

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


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    logs.configure(json_lines=settings.log_json)
    # A development node lets the demo counselor go on duty without a roster, unless the
    # developer asks for the roster rules explicitly.
    settings = settings.replace(dev=True)
    if "YIZHAN_DUTY_REQUIRES_ROSTER" not in os.environ:
        settings = settings.replace(duty_requires_roster=False)
    from chat_server.embedded import private_dir

    private_dir(settings.data_dir)
    with terminate_as_exit(), backends(settings, keep_alive=True) as resolved:
        from chat_server import devsetup

        devsetup.prepare(resolved)
        print_urls(resolved, backends_of=settings)
        run_server(resolved)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    logs.configure(json_lines=True)
    missing = [
        name
        for name, value in (
            ("DATABASE_URL", settings.database_url),
            ("REDIS_URL", settings.redis_url),
            ("YIZHAN_KEY_RING or YIZHAN_KEY_FILE", settings.key_ring_json or settings.key_file),
        )
        if not value
    ]
    if missing:
        print(f"yizhan serve: missing {', '.join(missing)}", file=sys.stderr)
        return EXIT_CONFIG
    if settings.key_file and not settings.key_file.exists():
        print(f"yizhan serve: YIZHAN_KEY_FILE {settings.key_file} does not exist", file=sys.stderr)
        return EXIT_CONFIG
    with terminate_as_exit():
        run_server(settings)
    return 0


def print_urls(settings: Settings, backends_of: Settings | None = None) -> None:
    """The pages, and how a second node reaches the same stores (docs/OPERATIONS.md)."""
    base = f"http://{settings.host}:{settings.port}"
    print(f"驿站 Yizhan is starting on {base}", flush=True)
    print(f"  worker page:      {base}/", flush=True)
    print(f"  counselor console: {base}/counselor.html", flush=True)
    print(f"  supervisor board: {base}/supervisor.html", flush=True)
    if backends_of is not None and not (backends_of.database_url and backends_of.redis_url):
        # Local unix sockets without passwords: nothing secret (the key file's path only).
        port = settings.port + 1
        print("  a second node on the same stores:", flush=True)
        print(f"    DATABASE_URL='{settings.database_url}' REDIS_URL='{settings.redis_url}' "
              f"YIZHAN_KEY_FILE='{settings.key_path.resolve()}' PORT={port} "
              f"YIZHAN_ALLOWED_ORIGINS='http://{settings.host}:{port},http://localhost:{port}' "
              "YIZHAN_DUTY_REQUIRES_ROSTER=false yizhan serve", flush=True)


def run_server(settings: Settings) -> None:
    import uvicorn

    from chat_server import gc_policy
    from chat_server.websocket_server import DrainingServer, websocket_options
    from chat_server.wiring import build_app

    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        **websocket_options(settings.max_frame_bytes),
        ws_ping_interval=20,
        ws_ping_timeout=20,
        log_config=None,
        access_log=False,
        server_header=False,
        # The app reads forwarded headers itself, from YIZHAN_TRUSTED_PROXIES only.
        proxy_headers=False,
    )
    server = DrainingServer(config, lambda: app.state.node.drain())
    gc_policy.apply()  # after start-up objects exist, so they are frozen with the rest
    server.run()


if __name__ == "__main__":
    raise SystemExit(main())
