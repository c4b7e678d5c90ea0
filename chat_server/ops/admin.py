"""Admin verbs of the `yizhan` command: staff accounts, keys, and shredding.

Every handler is `(settings, args) -> int`: 0 done, 1 refused or not found, 2 bad input or
configuration. They use DATABASE_URL / REDIS_URL when set, else the embedded servers
under the data directory (the same ones `yizhan dev` uses, shared while it runs).
Passwords are read from stdin or a prompt, never from argv (argv is visible in `ps`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from chat_server import db
from chat_server.accounts.sessions import SessionStore
from chat_server.chat.hub import user_channel
from chat_server.clock import system_clock
from chat_server.config import Settings
from chat_server.ops import keys as keyops
from chat_server.wire.protocol import Role
from crypto.errors import CryptoError, KeyFileError, WeakPassword
from crypto.keyring import KeyRing, _write_atomic
from crypto.pseudonym import CardRule

OK, REFUSED, BAD_INPUT = 0, 1, 2

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class AdminError(Exception):
    """Ends a verb with a one-line message and an exit status."""

    def __init__(self, message: str, status: int = REFUSED) -> None:
        super().__init__(message)
        self.status = status


def add_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register admin subcommands; each sets `handler`."""
    staff = verbs.add_parser("staff", help="staff accounts: add, disable, reset-password, list")
    sv = staff.add_subparsers(dest="staff_verb", required=True)
    add = sv.add_parser("add", help="create an account; the password is read from stdin")
    add.add_argument("--username", required=True)
    add.add_argument("--display-name", required=True)
    add.add_argument("--role", required=True, choices=["counselor", "supervisor", "admin"])
    add.add_argument("--capacity", type=int, default=None, help="concurrent chats (1-10)")
    add.set_defaults(handler=staff_add)
    disable = sv.add_parser("disable", help="disable an account and close its sockets")
    disable.add_argument("username")
    disable.set_defaults(handler=staff_disable)
    reset = sv.add_parser("reset-password", help="set a new password; ends its sessions")
    reset.add_argument("username")
    reset.set_defaults(handler=staff_reset_password)
    sv.add_parser("list", help="list accounts").set_defaults(handler=staff_list)

    keys = verbs.add_parser("keys", help="key ring: rotate, retire, status")
    kv = keys.add_subparsers(dest="keys_verb", required=True)
    rotate = kv.add_parser("rotate", help="add an active KEK, then rewrap data keys to it")
    rotate.add_argument("--batch", type=int, default=keyops.DEFAULT_BATCH)
    rotate.add_argument(
        "--rewrap-only", action="store_true",
        help="add no key; rewrap to the ring's active KEK (resume, or after a deploy)",
    )
    rotate.add_argument(
        "--ring-out", type=Path,
        help="with YIZHAN_KEY_RING: write the new ring to this new 0600 file",
    )
    rotate.set_defaults(handler=keys_rotate)
    retire = kv.add_parser("retire", help="remove a KEK version no data key uses any more")
    retire.add_argument("version", type=int)
    retire.add_argument("--ring-out", type=Path, help="as for rotate")
    retire.set_defaults(handler=keys_retire)
    kv.add_parser("status", help="ring versions and data keys per version").set_defaults(
        handler=keys_status
    )
    init = kv.add_parser("init", help="write a new key ring (0600); never overwrites one")
    init.add_argument(
        "--out", type=Path, help="where to write it (default: YIZHAN_KEY_FILE, else "
        "$YIZHAN_DATA_DIR/keys.json)",
    )
    init.set_defaults(handler=keys_init)

    conversations = verbs.add_parser("conversations", help="conversation retention")
    cv = conversations.add_subparsers(dest="conversations_verb", required=True)
    shred = cv.add_parser("shred", help="destroy a conversation's data key (irreversible)")
    shred.add_argument("conversation_id")
    shred.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    shred.set_defaults(handler=conversations_shred)

    add_referral_verbs(verbs)
    from chat_server.roster import cli as shifts_cli  # lazy: shifts_cli imports this module

    shifts_cli.add_verbs(verbs)


# ---- plumbing -----------------------------------------------------------------------


def _run(
    verb: str, settings: Settings, work: Callable[[Settings], Awaitable[int]]
) -> int:
    """Resolve the servers (embedded if URLs are unset), run `work`, report AdminError."""
    from chat_server.cli import backends, terminate_as_exit

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
async def _connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """One connection for a verb, closed whatever happens."""
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        # Admin verbs run no DDL: their role may have data rights only.
        await _check_schema(conn)
        yield conn
    finally:
        await conn.close()


async def _sessions(settings: Settings) -> tuple[asyncpg.Pool, SessionStore]:
    assert settings.database_url
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await _check_schema(conn)
    except AdminError:
        await pool.close()
        raise
    # Staff verbs never touch worker pseudonyms, so they need no key material: a throwaway
    # ring keeps `yizhan staff …` usable on a host that holds no key ring.
    return pool, SessionStore(pool, KeyRing.generate(), CardRule.parse(settings.card_rule))


async def _check_schema(conn: asyncpg.Connection) -> None:
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


def _checked_password(username: str) -> str:
    from crypto.passwords import check_password_policy

    password = read_password(username)
    try:
        check_password_policy(password, username=username)
    except WeakPassword as exc:
        raise AdminError(f"password refused ({exc.code}): {exc.message}", BAD_INPUT) from None
    return password


async def _revoke_sockets(settings: Settings, staff_id: str) -> int:
    """Tell every node to close this account's sockets; returns how many nodes heard it."""
    assert settings.redis_url
    client = aioredis.from_url(settings.redis_url, socket_connect_timeout=5)
    try:
        return int(await client.publish(user_channel(staff_id), json.dumps({"t": "revoked"})))
    finally:
        await client.aclose()


# ---- staff --------------------------------------------------------------------------


def staff_add(settings: Settings, args: argparse.Namespace) -> int:
    username = args.username.strip()
    if not _USERNAME.match(username):
        print("yizhan staff add: --username must be 3-64 of a-z 0-9 . _ - (lower case), "
              "starting with a letter or digit", file=sys.stderr)
        return BAD_INPUT
    capacity = settings.default_capacity if args.capacity is None else args.capacity
    if not 1 <= capacity <= 10:
        print("yizhan staff add: --capacity must be between 1 and 10", file=sys.stderr)
        return BAD_INPUT
    display_name = args.display_name.strip()
    if not display_name or len(display_name) > 64:
        print("yizhan staff add: --display-name must be 1-64 characters", file=sys.stderr)
        return BAD_INPUT
    try:
        # Before any server starts: a refused password should fail fast.
        password = _checked_password(username)
    except AdminError as exc:
        print(f"yizhan staff add: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        pool, sessions = await _sessions(resolved)
        try:
            await sessions.create_staff(username, display_name, Role(args.role), password,
                                        capacity)
        except asyncpg.UniqueViolationError:
            raise AdminError(f"user name {username!r} is already taken") from None
        finally:
            await pool.close()
        print(f"created {args.role} {username}")
        return OK

    return _run("staff add", settings, work)


def staff_disable(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        pool, sessions = await _sessions(resolved)
        try:
            staff_id = await sessions.disable_staff(args.username)
        finally:
            await pool.close()
        if staff_id is None:
            raise AdminError(f"no account named {args.username!r}")
        nodes = await _revoke_sockets(resolved, staff_id)
        print(f"disabled {args.username}; sessions revoked; {nodes} node(s) told to disconnect")
        return OK

    return _run("staff disable", settings, work)


def staff_reset_password(settings: Settings, args: argparse.Namespace) -> int:
    try:
        password = _checked_password(args.username)
    except AdminError as exc:
        print(f"yizhan staff reset-password: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        pool, sessions = await _sessions(resolved)
        try:
            if not await sessions.reset_password(args.username, password):
                raise AdminError(f"no account named {args.username!r}")
            staff_id = await pool.fetchval(
                "SELECT id FROM staff WHERE username = $1", args.username
            )
        finally:
            await pool.close()
        # reset_password revoked the sessions; the open sockets must go too.
        await _revoke_sockets(resolved, str(staff_id))
        print(f"password of {args.username} changed; its sessions were ended")
        return OK

    return _run("staff reset-password", settings, work)


def staff_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        async with _connection(resolved) as conn:
            rows = await conn.fetch(
                "SELECT username, display_name, role, capacity, disabled_at IS NOT NULL AS off,"
                " created_at FROM staff ORDER BY role, username"
            )
        print(f"{'username':<24} {'role':<11} {'cap':>3}  {'status':<8} display name")
        for r in rows:
            status = "disabled" if r["off"] else "active"
            print(f"{r['username']:<24} {r['role']:<11} {r['capacity']:>3}  {status:<8} "
                  f"{r['display_name']}")
        print(f"{len(rows)} account(s)")
        return OK

    return _run("staff list", settings, work)


# ---- keys ---------------------------------------------------------------------------


def load_ring(settings: Settings) -> tuple[KeyRing, Path | None]:
    """The configured ring, and the file it came from (None when it came from YIZHAN_KEY_RING)."""
    try:
        if settings.key_ring_json:
            return KeyRing.from_json(settings.key_ring_json), None
        return KeyRing.load(settings.key_path), settings.key_path
    except KeyFileError as exc:
        hint = ("" if settings.key_ring_json
                else " (create one with `yizhan keys init`, or set YIZHAN_KEY_RING)")
        raise AdminError(f"{exc}{hint}", BAD_INPUT) from None


def store_ring(ring: KeyRing, source: Path | None, ring_out: Path | None) -> Path:
    """Write a changed ring: back to its file, or, for an environment ring, to `ring_out`.

    Key material is never printed: stdout ends up in terminal scroll-back and CI logs.
    """
    try:
        if source is not None:
            ring.save(source)
            return source
        if ring_out is None:
            raise AdminError(
                "the ring comes from YIZHAN_KEY_RING, which this command cannot change: "
                "give --ring-out PATH to receive the new ring", BAD_INPUT
            )
        if not _write_atomic(ring_out, ring.to_json().encode("utf-8"), exclusive=True):
            raise AdminError(f"{ring_out} already exists; choose a new path", BAD_INPUT)
    except KeyFileError as exc:
        raise AdminError(str(exc)) from None
    return ring_out


def keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    if args.batch < 1:
        print("yizhan keys rotate: --batch must be at least 1", file=sys.stderr)
        return BAD_INPUT
    try:
        ring, source = load_ring(settings)
        if not args.rewrap_only:
            ring = ring.with_new_kek()
            where = store_ring(ring, source, args.ring_out)
            print(f"added KEK version {ring.active_kek_version} (active); ring written to "
                  f"{where}; fingerprint {ring.fingerprint()}")
            if source is None:
                # The nodes must hold the new ring before any key is rewrapped to it.
                print("next: deploy that file's contents as YIZHAN_KEY_RING to every node, "
                      "then run `yizhan keys rotate --rewrap-only` with it")
                return OK
            print("warning: nodes running with the old ring cannot open rewrapped "
                  "conversations; restart them now", file=sys.stderr)
    except AdminError as exc:
        print(f"yizhan keys rotate: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        def progress(count: int, total: int) -> None:
            print(f"  rewrapped {total} data key(s)", flush=True)

        async with _connection(resolved) as conn:
            try:
                total = await keyops.rewrap_all(conn, ring, batch=args.batch,
                                                on_batch=progress)
            except CryptoError as exc:
                raise AdminError(f"cannot rewrap: {exc}") from None
        print(f"done: {total} data key(s) rewrapped to KEK version {ring.active_kek_version}")
        return OK

    return _run("keys rotate", settings, work)


def keys_retire(settings: Settings, args: argparse.Namespace) -> int:
    try:
        ring, source = load_ring(settings)
    except AdminError as exc:
        print(f"yizhan keys retire: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        async with _connection(resolved) as conn:
            in_use = await keyops.live_keys_under(conn, args.version)
        if in_use:
            raise AdminError(
                f"KEK version {args.version} still wraps {in_use} data key(s); "
                "run `yizhan keys rotate --rewrap-only` first"
            )
        try:
            new_ring = ring.without_kek(args.version)
        except CryptoError as exc:
            raise AdminError(str(exc)) from None
        where = store_ring(new_ring, source, args.ring_out)
        print(f"retired KEK version {args.version}; ring written to {where}; "
              f"fingerprint {new_ring.fingerprint()}")
        print("remember: also destroy the old key in the secret store and its history")
        return OK

    return _run("keys retire", settings, work)


def keys_init(settings: Settings, args: argparse.Namespace) -> int:
    """A new production ring: written once, 0600, and never printed."""
    path: Path = args.out or settings.key_path
    if args.out is None and settings.key_ring_json:
        print("yizhan keys init: YIZHAN_KEY_RING is already set; a ring exists. "
              "Give --out PATH to write a separate new ring anyway.", file=sys.stderr)
        return REFUSED
    ring = KeyRing.generate()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = _write_atomic(path, ring.to_json().encode("utf-8"), exclusive=True)
    except (KeyFileError, OSError) as exc:
        print(f"yizhan keys init: {exc}", file=sys.stderr)
        return REFUSED
    if not written:
        print(f"yizhan keys init: {path} already exists; it is never overwritten (losing a "
              "ring makes every transcript unreadable)", file=sys.stderr)
        return REFUSED
    print(f"wrote a new key ring to {path} (mode 0600); fingerprint {ring.fingerprint()}")
    print("back it up now, to a place apart from the database backups (a password manager, "
          "the secret store, or an offline medium in a safe):")
    print("  - without this file no transcript, case note or worker pseudonym can be read or "
          "matched again, and no backup of the database is of any use;")
    print("  - with it, a stolen database backup can be read: never store the two together.")
    print("give it to every node as YIZHAN_KEY_FILE (0600, owned by the service user) or its "
          "contents as YIZHAN_KEY_RING; `yizhan keys status` shows the fingerprint to compare.")
    return OK


def keys_status(settings: Settings, args: argparse.Namespace) -> int:
    try:
        ring, source = load_ring(settings)
    except AdminError as exc:
        print(f"yizhan keys status: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        async with _connection(resolved) as conn:
            counts = await keyops.usage(conn)
        print(f"ring: {source or 'YIZHAN_KEY_RING'}  fingerprint {ring.fingerprint()}")
        print(f"KEK versions {list(ring.kek_versions)}, active {ring.active_kek_version}, "
              f"retired {list(ring.retired_kek_versions)}")
        print(f"{'kek':>4} {'live keys':>10} {'shredded':>9}")
        unreadable = 0
        for u in counts:
            mark = "" if u.kek_version in ring.kek_versions or not u.live else "  NOT IN RING"
            if mark:
                unreadable += u.live
            print(f"{u.kek_version:>4} {u.live:>10} {u.shredded:>9}{mark}")
        pending = sum(u.live for u in counts if u.kek_version != ring.active_kek_version)
        print(f"{pending} data key(s) not yet on the active version")
        if unreadable:
            print(f"warning: {unreadable} data key(s) are wrapped by a KEK this ring lacks",
                  file=sys.stderr)
            return REFUSED
        return OK

    return _run("keys status", settings, work)


# ---- conversations ------------------------------------------------------------------


def conversations_shred(settings: Settings, args: argparse.Namespace) -> int:
    try:
        conversation_id = str(uuid.UUID(args.conversation_id))
    except ValueError:
        print("yizhan conversations shred: the conversation id must be a UUID", file=sys.stderr)
        return BAD_INPUT
    if not args.yes and not confirm(
        f"destroy the data key of {conversation_id}? Its messages, case note and rating "
        "comment become unreadable for ever. Type 'shred' to confirm: ", "shred"
    ):
        print("yizhan conversations shred: not confirmed; nothing changed", file=sys.stderr)
        return REFUSED

    async def work(resolved: Settings) -> int:
        async with _connection(resolved) as conn:
            try:
                shredded = await keyops.shred(conn, conversation_id, system_clock())
            except keyops.ShredRefused as exc:
                raise AdminError(str(exc)) from None
        if shredded:
            print(f"shredded {conversation_id}: its data key is destroyed; "
                  "backups taken before now still hold it (see docs/OPERATIONS.md)")
        else:
            print(f"{conversation_id} was already shredded")
        return OK

    return _run("conversations shred", settings, work)


# ---- referral directory -------------------------------------------------------------


def add_referral_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chat_server.crisis.referrals import KINDS

    referrals = verbs.add_parser("referrals", help="referral directory: list, add, disable")
    rv = referrals.add_subparsers(dest="referrals_verb", required=True)
    rlist = rv.add_parser("list", help="list resources (seeded ones appear after first start)")
    rlist.add_argument("--all", action="store_true", help="include disabled ones")
    rlist.set_defaults(handler=referrals_list)
    radd = rv.add_parser("add", help="add a resource (marked verify-before-launch unless told)")
    radd.add_argument("--name", required=True)
    radd.add_argument("--phone", required=True)
    radd.add_argument("--kind", required=True, choices=KINDS)
    radd.add_argument("--hours", default="")
    radd.add_argument("--region", default="")
    radd.add_argument("--verified", action="store_true", help="the number was checked")
    radd.set_defaults(handler=referrals_add)
    rdis = rv.add_parser("disable", help="hide a resource from new referrals")
    rdis.add_argument("resource_id")
    rdis.set_defaults(handler=referrals_disable)


def referrals_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        async with _connection(resolved) as conn:
            rows = await conn.fetch(
                "SELECT id, name, phone, kind, hours, verify_before_launch AS unverified,"
                " disabled_at IS NOT NULL AS off FROM referral_resources"
                " WHERE $1 OR disabled_at IS NULL ORDER BY created_at, name", args.all)
        for r in rows:
            flags = ("VERIFY " if r["unverified"] else "") + ("disabled" if r["off"] else "")
            print(f"{r['id']}  {r['kind']:<10} {r['phone']:<14} {r['name']}  {r['hours']}"
                  f"  {flags}".rstrip())
        print(f"{len(rows)} resource(s)")
        return OK

    return _run("referrals list", settings, work)


def referrals_add(settings: Settings, args: argparse.Namespace) -> int:
    name, phone = args.name.strip(), args.phone.strip()
    if not name or len(name) > 100 or not phone or len(phone) > 40:
        print("yizhan referrals add: --name (1-100) and --phone (1-40) are required",
              file=sys.stderr)
        return BAD_INPUT

    async def work(resolved: Settings) -> int:
        async with _connection(resolved) as conn:
            rid = await conn.fetchval(
                "INSERT INTO referral_resources (name, phone, kind, hours, region,"
                " verify_before_launch, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " RETURNING id",
                name, phone, args.kind, args.hours, args.region, not args.verified,
                system_clock())
        print(f"added {rid}")
        return OK

    return _run("referrals add", settings, work)


def referrals_disable(settings: Settings, args: argparse.Namespace) -> int:
    try:
        resource_id = uuid.UUID(args.resource_id)
    except ValueError:
        print("yizhan referrals disable: the resource id must be a UUID", file=sys.stderr)
        return BAD_INPUT

    async def work(resolved: Settings) -> int:
        async with _connection(resolved) as conn:
            done = await conn.fetchval(
                "UPDATE referral_resources SET disabled_at = COALESCE(disabled_at, $2)"
                " WHERE id = $1 RETURNING 1", resource_id, system_clock())
        if not done:
            raise AdminError(f"no resource {resource_id}")
        print(f"disabled {resource_id}")
        return OK

    return _run("referrals disable", settings, work)
