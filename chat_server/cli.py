"""`yizhan`: serve (production), dev (embedded servers), and admin verbs."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import sys
from collections.abc import Sequence

import asyncpg
import uvicorn

from chat_server import db, gc_policy, logs, metrics, startup
from chat_server.clock import system_clock
from chat_server.config import Settings, SettingsError
from chat_server.ops import admin, devsetup
from chat_server.ops.backends import EmbeddedUnavailable, backends, terminate_as_exit
from chat_server.ops.embedded import private_dir
from chat_server.roster import cli as roster_cli
from chat_server.roster.hours import Hours
from chat_server.vault import load_key_ring
from chat_server.websocket_server import DrainingServer, websocket_options
from chat_server.wiring import build_app
from crypto.errors import CryptoError

log = logging.getLogger("yizhan.cli")

EXIT_CONFIG = 2
# Distinct statuses so a unit's logs and `systemctl status` say which step failed.
EXIT_UNAVAILABLE = 3  # PostgreSQL or Redis did not answer within YIZHAN_STARTUP_WAIT
EXIT_SCHEMA = 4  # the database needs `yizhan migrate` (or newer code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"yizhan: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    handler = args.handler
    try:
        return int(handler(settings, args) or 0)
    except EmbeddedUnavailable as exc:
        print(f"yizhan {args.verb}: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yizhan", description="驿站 Yizhan counseling chat")
    verbs = parser.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="production: needs DATABASE_URL, REDIS_URL, keys")
    serve.set_defaults(handler=cmd_serve)
    dev = verbs.add_parser("dev", help="development: embedded PostgreSQL and Valkey under ./var")
    dev.set_defaults(handler=cmd_dev)
    migrate = verbs.add_parser("migrate", help="apply pending schema migrations (owner role)")
    migrate.add_argument(
        "--grant-to", metavar="ROLE",
        help="then grant this runtime role data rights (rows only, no DDL) on every table",
    )
    migrate.set_defaults(handler=cmd_migrate)
    admin.add_verbs(verbs)  # staff, keys, conversations, referrals
    roster_cli.add_verbs(verbs)
    return parser


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    logs.configure(json_lines=settings.log_json, level=settings.log_level)
    # A development node lets the demo counselor go on duty without a roster, unless the
    # developer asks for the roster rules explicitly.
    settings = settings.replace(dev=True)
    if "YIZHAN_DUTY_REQUIRES_ROSTER" not in os.environ:
        settings = settings.replace(duty_requires_roster=False)
    if "YIZHAN_ALLOWED_ORIGINS" not in os.environ:
        # The second node printed below: a page loaded from either may reconnect to the other.
        settings = settings.replace(allowed_origins=dev_origins(settings))
    private_dir(settings.data_dir)
    with terminate_as_exit(), backends(settings, keep_alive=True) as resolved:
        devsetup.prepare(resolved)
        print_urls(resolved, backends_of=settings)
        run_server(resolved)
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply pending migrations with the owner role (YIZHAN_MIGRATE_DATABASE_URL)."""
    logs.configure(json_lines=settings.log_json, level=settings.log_level)
    owner = settings.migrate_database_url or settings.database_url
    settings = settings.replace(database_url=owner)

    async def work(url: str) -> int:
        await startup.postgres_ready(url, settings.startup_wait_s)
        conn = await asyncpg.connect(url)
        try:
            before = await db.applied_version(conn)
            applied = await db.migrate(conn, system_clock())
            if args.grant_to:
                await db.grant_data_rights(conn, args.grant_to)
        finally:
            await conn.close()
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
        print(f"schema at version {before if not applied else applied[-1].version} "
              f"({len(applied)} migration(s) applied)")
        if args.grant_to:
            print(f"granted data rights on every table to {args.grant_to}")
        return 0

    try:
        if owner:
            return asyncio.run(work(owner))
        with terminate_as_exit(), backends(settings) as resolved:
            assert resolved.database_url
            return asyncio.run(work(resolved.database_url))
    except startup.Unavailable as exc:
        print(f"yizhan migrate: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except db.SchemaError as exc:
        print(f"yizhan migrate: {exc}", file=sys.stderr)
        return EXIT_SCHEMA
    except asyncpg.PostgresError as exc:
        # Permission errors and the like: the server's message names the object, no data.
        print(f"yizhan migrate: PostgreSQL refused: {exc}", file=sys.stderr)
        return 1


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    logs.configure(json_lines=True, level=settings.log_level)
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
    try:
        load_key_ring(settings)  # fail here with one line, not in the middle of start-up
    except CryptoError as exc:
        print(f"yizhan serve: key ring: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    assert settings.database_url and settings.redis_url
    try:
        with terminate_as_exit():
            asyncio.run(_ready(settings))
    except startup.Unavailable as exc:
        print(f"yizhan serve: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except db.SchemaError as exc:
        print(f"yizhan serve: {exc}", file=sys.stderr)
        return EXIT_SCHEMA
    with terminate_as_exit():
        run_server(settings)
    return 0


async def _ready(settings: Settings) -> None:
    assert settings.database_url and settings.redis_url
    await startup.postgres_ready(settings.database_url, settings.startup_wait_s)
    await startup.redis_ready(settings.redis_url, settings.startup_wait_s)
    await startup.check_schema(settings.database_url)


def hours_lines(settings: Settings, now: dt.datetime) -> list[str]:
    """When intake is open, whether it is open now, and how to try it at any hour."""
    hours = Hours(settings.tz, settings.open_time, settings.close_time, settings.closed_days)
    span = hours.describe()
    lines = [f"  service hours:    {span['open']}–{span['close']} {span['timezone']}"]
    if hours.is_open(now):
        lines.append("  intake is open now")
    else:
        opens = hours.next_open(now).strftime("%Y-%m-%d %H:%M")
        lines.append(f"  intake is closed now (opens {opens}); to try it now:")
        lines.append("    YIZHAN_OPEN_TIME=00:00 make run")
    return lines


def dev_origins(settings: Settings) -> tuple[str, ...]:
    """Both dev nodes' origins (this port and the next), by address and by name."""
    return tuple(f"http://{host}:{p}" for p in (settings.port, settings.port + 1)
                 for host in dict.fromkeys((settings.host, "localhost")))


def print_urls(settings: Settings, backends_of: Settings | None = None) -> None:
    """The pages, and how a second node reaches the same stores (docs/OPERATIONS.md)."""
    base = f"http://{settings.host}:{settings.port}"
    print(f"驿站 Yizhan is starting on {base}", flush=True)
    print(f"  worker page:      {base}/", flush=True)
    print(f"  counselor console: {base}/counselor.html", flush=True)
    print(f"  supervisor board: {base}/supervisor.html", flush=True)
    for line in hours_lines(settings, dt.datetime.now(dt.UTC)):
        print(line, flush=True)
    if backends_of is not None and not (backends_of.database_url and backends_of.redis_url):
        # Local unix sockets without passwords: nothing secret (the key file's path only).
        port = settings.port + 1
        # Both nodes' origins: a page opened on this node that reconnects to the second
        # still sends this node's origin, and an origin not listed is refused with 403.
        origins = ",".join(dev_origins(settings))
        # The same hours as this node, or the second is closed when this one is open.
        close = settings.close_time.strftime("%H:%M") if settings.close_time else "24:00"
        print("  a second node on the same stores:", flush=True)
        print(f"    DATABASE_URL='{settings.database_url}' REDIS_URL='{settings.redis_url}' "
              f"YIZHAN_KEY_FILE='{settings.key_path.resolve()}' PORT={port} "
              f"YIZHAN_ALLOWED_ORIGINS='{origins}' "
              f"YIZHAN_OPEN_TIME={settings.open_time.strftime('%H:%M')} "
              f"YIZHAN_CLOSE_TIME={close} "
              "YIZHAN_DUTY_REQUIRES_ROSTER=false yizhan serve", flush=True)


def run_server(settings: Settings) -> None:
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

    def stopping() -> None:
        parts = getattr(app.state, "parts", None)  # None until the lifespan started
        if parts is not None:
            parts.sockets.stop_taking()

    server = DrainingServer(config, lambda: app.state.parts.sockets.drain(), stopping)
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    gc_policy.apply()  # after start-up objects exist, so they are frozen with the rest
    server.run()


if __name__ == "__main__":
    raise SystemExit(main())
