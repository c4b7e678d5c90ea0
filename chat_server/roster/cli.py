"""`yizhan shifts …`: the roster from the command line (CSV import and export for the office).

Same rules as the HTTP API (roster.py); writes are recorded with no acting staff member.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from chat_server import db
from chat_server.config import Settings
from chat_server.ops.verbs import BAD_INPUT, OK, REFUSED, AdminError, run
from chat_server.roster.rules import (
    Change,
    ChangeKind,
    Pattern,
    RosterError,
    Window,
    coverage,
    days_between,
    format_csv,
    format_weekdays,
    gaps_first,
    hhmm,
    parse_csv,
    parse_hhmm,
    parse_targets,
    parse_week,
    parse_weekdays,
)
from chat_server.roster.service import records_csv
from chat_server.roster.store import RosterStore


def add_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shifts = verbs.add_parser("shifts", help="the roster: patterns, leave, CSV, coverage, records")
    sv = shifts.add_subparsers(dest="shifts_verb", required=True)

    p = sv.add_parser("pattern", help="add a weekly shift: --user lin --days mon-fri 18:00 24:00")
    p.add_argument("--user", required=True)
    p.add_argument("--days", required=True, help="mon-fri, sat,sun, …")
    p.add_argument("start")
    p.add_argument("end")
    p.add_argument("--from", dest="valid_from", type=dt.date.fromisoformat)
    p.add_argument("--until", dest="valid_until", type=dt.date.fromisoformat)
    p.add_argument("--note", default="")
    p.set_defaults(handler=cmd_pattern)

    for kind in ChangeKind:
        c = sv.add_parser(str(kind), help=f"one-off {kind} on a date (leave: whole day unless"
                                           " times are given)")
        c.add_argument("--user", required=True)
        c.add_argument("--date", required=True, type=dt.date.fromisoformat)
        c.add_argument("start", nargs="?")
        c.add_argument("end", nargs="?")
        c.add_argument("--note", default="")
        c.set_defaults(handler=cmd_change, kind=kind)

    ls = sv.add_parser("list", help="weekly patterns")
    ls.set_defaults(handler=cmd_list)

    ex = sv.add_parser("export", help="concrete shifts of a date range as CSV")
    ex.add_argument("--from", dest="first", required=True, type=dt.date.fromisoformat)
    ex.add_argument("--to", dest="last", required=True, type=dt.date.fromisoformat)
    ex.add_argument("-o", "--output", type=Path, help="file (default: stdout)")
    ex.set_defaults(handler=cmd_export)

    im = sv.add_parser("import", help="make a date range's shifts exactly those in a CSV")
    im.add_argument("file", type=Path)
    im.add_argument("--from", dest="first", required=True, type=dt.date.fromisoformat)
    im.add_argument("--to", dest="last", required=True, type=dt.date.fromisoformat)
    im.set_defaults(handler=cmd_import)

    cov = sv.add_parser("coverage", help="hours against the target, gaps first")
    cov.add_argument("--date", required=True, type=dt.date.fromisoformat)
    cov.add_argument("--days", type=int, default=1)
    cov.set_defaults(handler=cmd_coverage)

    rec = sv.add_parser("records", help="scheduled vs actual per person for an ISO week (CSV)")
    rec.add_argument("--week", required=True, help="like 2026-W48")
    rec.add_argument("-o", "--output", type=Path)
    rec.set_defaults(handler=cmd_records)


async def _store(settings: Settings) -> RosterStore:
    assert settings.database_url
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await db.check_version(conn)
    except db.SchemaError as exc:
        await pool.close()
        raise AdminError(str(exc)) from None
    window = Window.of(settings.open_time, settings.close_time, settings.closed_days)
    return RosterStore(pool, settings.tz, window)


async def _staff_id(store: RosterStore, username: str) -> str:
    for p in (await store.people()).values():
        if p.username == username:
            return p.id
    raise AdminError(f"no active staff member {username!r}", BAD_INPUT)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text("\ufeff" + text, encoding="utf-8")


def _minutes(text: str) -> int:
    try:
        return parse_hhmm(text)
    except ValueError as exc:
        raise AdminError(str(exc), BAD_INPUT) from None


def _refused(exc: RosterError) -> AdminError:
    return AdminError("refused:\n  " + "\n  ".join(exc.errors), REFUSED)


def cmd_pattern(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        store = await _store(resolved)
        try:
            try:
                days = parse_weekdays(args.days)
            except ValueError as exc:
                raise AdminError(str(exc), BAD_INPUT) from None
            p = Pattern(await _staff_id(store, args.user), days, _minutes(args.start),
                        _minutes(args.end), args.valid_from, args.valid_until, args.note)
            try:
                saved = await store.add_pattern(p, None)
            except RosterError as exc:
                raise _refused(exc) from None
            print(f"pattern {saved.id}: {args.user} {format_weekdays(days)} "
                  f"{hhmm(p.start)}–{hhmm(p.end)}")
            return OK
        finally:
            await store.pool.close()

    return run("shifts pattern", settings, work)


def cmd_change(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        store = await _store(resolved)
        try:
            whole = args.kind is ChangeKind.LEAVE and args.start is None
            if not whole and (args.start is None or args.end is None):
                raise AdminError("give start and end times, like 18:00 24:00", BAD_INPUT)
            start = store.window.open if whole else _minutes(args.start)
            end = store.window.close if whole else _minutes(args.end)
            c = Change(await _staff_id(store, args.user), args.date, args.kind, start, end,
                       args.note)
            try:
                saved = await store.add_change(c, None)
            except RosterError as exc:
                raise _refused(exc) from None
            print(f"{args.kind} {saved.id}: {args.user} {args.date} {hhmm(start)}–{hhmm(end)}")
            return OK
        finally:
            await store.pool.close()

    return run(f"shifts {args.kind}", settings, work)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        store = await _store(resolved)
        try:
            people = await store.people()
            for p in await store.patterns():
                who = people[p.staff_id].username if p.staff_id in people else "(disabled)"
                valid = f" {p.valid_from or ''}..{p.valid_until or ''}" if (
                    p.valid_from or p.valid_until) else ""
                print(f"{p.id}  {who:<16} {format_weekdays(p.weekdays):<28} "
                      f"{hhmm(p.start)}–{hhmm(p.end)}{valid}  {p.note}")
            return OK
        finally:
            await store.pool.close()

    return run("shifts list", settings, work)


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        store = await _store(resolved)
        try:
            days_between(args.first, args.last)
            _write(format_csv(await store.shifts(args.first, args.last), await store.people()),
                   args.output)
            return OK
        except RosterError as exc:
            raise AdminError(exc.errors[0], BAD_INPUT) from None
        finally:
            await store.pool.close()

    return run("shifts export", settings, work)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"yizhan shifts import: cannot read {args.file}: {exc}", file=sys.stderr)
        return BAD_INPUT

    async def work(resolved: Settings) -> int:
        store = await _store(resolved)
        try:
            people = {p.username: p for p in (await store.people()).values()}
            try:
                days_between(args.first, args.last)
                shifts = parse_csv(text, people, args.first, args.last, store.window)
            except RosterError as exc:
                raise AdminError("nothing imported:\n  " + "\n  ".join(exc.errors),
                                 BAD_INPUT) from None
            changed = await store.import_shifts(args.first, args.last, shifts, None)
            print(f"{len(shifts)} shifts; {changed} person-days changed")
            return OK
        finally:
            await store.pool.close()

    return run("shifts import", settings, work)


def cmd_coverage(settings: Settings, args: argparse.Namespace) -> int:
    async def work(resolved: Settings) -> int:
        store = await _store(resolved)
        try:
            if not 1 <= args.days <= 31:
                raise AdminError("--days must be from 1 to 31", BAD_INPUT)
            last = args.date + dt.timedelta(days=args.days - 1)
            people = await store.people()
            hours = gaps_first(coverage(
                await store.shifts(args.date, last), {k: p.role for k, p in people.items()},
                days_between(args.date, last), store.window,
                parse_targets(resolved.coverage_targets)))
            for h in hours:
                names = ", ".join(people[i].display_name for i in h.counselors + h.supervisors
                                  if i in people)
                mark = "GAP" if h.gap else "ok "
                print(f"{mark} {h.day} {h.hour:02d}:00  counselors {len(h.counselors)}/"
                      f"{h.target.counselors}  supervisors {len(h.supervisors)}/"
                      f"{h.target.supervisors}  {names}")
            return OK
        finally:
            await store.pool.close()

    return run("shifts coverage", settings, work)


def cmd_records(settings: Settings, args: argparse.Namespace) -> int:
    try:
        monday = parse_week(args.week)
    except ValueError as exc:
        print(f"yizhan shifts records: {exc}", file=sys.stderr)
        return BAD_INPUT

    async def work(resolved: Settings) -> int:
        store = await _store(resolved)
        try:
            records = await store.records(monday, dt.datetime.now(dt.UTC))
            _write(records_csv(records), args.output)
            return OK
        finally:
            await store.pool.close()

    return run("shifts records", settings, work)
