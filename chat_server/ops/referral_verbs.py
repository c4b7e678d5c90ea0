"""Admin verbs for the referral directory: list, add, disable (SQL in crisis/directory_store)."""

from __future__ import annotations

import argparse
import sys
import uuid

from chat_server.clock import system_clock
from chat_server.config import Settings
from chat_server.crisis.directory_store import DirectoryStore
from chat_server.crisis.referrals import KINDS
from chat_server.ops.verbs import BAD_INPUT, OK, AdminError, connection, run


def add_referral_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        async with connection(resolved) as conn:
            rows = await DirectoryStore(conn).listing(args.all)
        for r in rows:
            flags = ("VERIFY " if r["unverified"] else "") + ("disabled" if r["off"] else "")
            print(f"{r['id']}  {r['kind']:<10} {r['phone']:<14} {r['name']}  {r['hours']}"
                  f"  {flags}".rstrip())
        print(f"{len(rows)} resource(s)")
        return OK

    return run("referrals list", settings, work)


def referrals_add(settings: Settings, args: argparse.Namespace) -> int:
    name, phone = args.name.strip(), args.phone.strip()
    if not name or len(name) > 100 or not phone or len(phone) > 40:
        print("yizhan referrals add: --name (1-100) and --phone (1-40) are required",
              file=sys.stderr)
        return BAD_INPUT

    async def work(resolved: Settings) -> int:
        async with connection(resolved) as conn:
            rid = await DirectoryStore(conn).add_from_cli(
                name, phone, args.kind, args.hours, args.region, args.verified, system_clock())
        print(f"added {rid}")
        return OK

    return run("referrals add", settings, work)


def referrals_disable(settings: Settings, args: argparse.Namespace) -> int:
    try:
        resource_id = uuid.UUID(args.resource_id)
    except ValueError:
        print("yizhan referrals disable: the resource id must be a UUID", file=sys.stderr)
        return BAD_INPUT

    async def work(resolved: Settings) -> int:
        async with connection(resolved) as conn:
            done = await DirectoryStore(conn).disable(resource_id, system_clock())
        if not done:
            raise AdminError(f"no resource {resource_id}")
        print(f"disabled {resource_id}")
        return OK

    return run("referrals disable", settings, work)
