"""Admin verbs of the `yizhan` command: staff accounts, keys, and shredding.

What every verb shares (statuses, AdminError, running the work) is in ops/verbs.py; the
referral directory's verbs are in ops/referral_verbs.py, the roster's in roster/cli.py.
"""

from __future__ import annotations

import argparse
import re
import sys
import uuid

import asyncpg
import redis.asyncio as aioredis

from chat_server import db
from chat_server.accounts.sessions import SessionStore
from chat_server.chat.hub import user_channel
from chat_server.clock import system_clock
from chat_server.config import Settings
from chat_server.ops import key_verbs, referral_verbs
from chat_server.ops import keys as keyops
from chat_server.ops.verbs import (
    BAD_INPUT,
    OK,
    REFUSED,
    AdminError,
    check_schema,
    confirm,
    connection,
    read_password,
    run,
)
from chat_server.wire import codec as wire
from chat_server.wire import events
from chat_server.wire.events import Revoked
from chat_server.wire.protocol import Role
from crypto.errors import WeakPassword
from crypto.keyring import KeyRing
from crypto.passwords import check_password_policy
from crypto.pseudonym import CardRule

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


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

    key_verbs.add_key_verbs(verbs)

    conversations = verbs.add_parser("conversations", help="conversation retention")
    cv = conversations.add_subparsers(dest="conversations_verb", required=True)
    shred = cv.add_parser("shred", help="destroy a conversation's data key (irreversible)")
    shred.add_argument("conversation_id")
    shred.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    shred.set_defaults(handler=conversations_shred)
    referral_verbs.add_referral_verbs(verbs)



# ---- plumbing -----------------------------------------------------------------------


async def _sessions(settings: Settings) -> tuple[asyncpg.Pool, SessionStore]:
    assert settings.database_url
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await check_schema(conn)
    except AdminError:
        await pool.close()
        raise
    # Staff verbs never touch worker pseudonyms, so they need no key material: a throwaway
    # ring keeps `yizhan staff …` usable on a host that holds no key ring.
    return pool, SessionStore(pool, KeyRing.generate(), CardRule.parse(settings.card_rule))


def _checked_password(username: str) -> str:
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
        payload = wire.dumps(events.encode(Revoked()))
        return int(await client.publish(user_channel(staff_id), payload))
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

    return run("staff add", settings, work)


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

    return run("staff disable", settings, work)


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
            staff_id = await sessions.staff_id(args.username)
        finally:
            await pool.close()
        # reset_password revoked the sessions; the open sockets must go too.
        await _revoke_sockets(resolved, str(staff_id))
        print(f"password of {args.username} changed; its sessions were ended")
        return OK

    return run("staff reset-password", settings, work)


def staff_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        pool, sessions = await _sessions(resolved)
        try:
            accounts = await sessions.list_staff()
        finally:
            await pool.close()
        print(f"{'username':<24} {'role':<11} {'cap':>3}  {'status':<8} display name")
        for a in accounts:
            status = "disabled" if a.disabled else "active"
            print(f"{a.username:<24} {a.role:<11} {a.capacity:>3}  {status:<8} "
                  f"{a.display_name}")
        print(f"{len(accounts)} account(s)")
        return OK

    return run("staff list", settings, work)


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
        async with connection(resolved) as conn:
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

    return run("conversations shred", settings, work)
