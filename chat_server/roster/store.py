"""The roster in PostgreSQL: patterns, one-off changes, duty approvals, and the records.

Writes that must not overlap take one transaction-scoped advisory lock, so two supervisors
saving at once cannot both pass the overlap check. The rules live in roster.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from chat_server.clock import Clock, system_clock
from chat_server.roster.rules import (
    Change,
    ChangeKind,
    Pattern,
    Person,
    RosterError,
    Shift,
    Window,
    at,
    check_change,
    check_pattern,
    diff_day,
    duty_seconds,
    expand,
    merge,
    on_shift,
    pattern_intervals,
)

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('yizhan:roster'))"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        raise RosterError([f"not a staff or entry id: {text!r}"]) from None


def _pattern(r: asyncpg.Record) -> Pattern:
    return Pattern(str(r["staff_id"]), frozenset(r["weekdays"]), r["start_minute"],
                   r["end_minute"], r["valid_from"], r["valid_until"], r["note"], str(r["id"]))


def _change(r: asyncpg.Record) -> Change:
    return Change(str(r["staff_id"]), r["day"], ChangeKind(r["kind"]), r["start_minute"],
                  r["end_minute"], r["note"], str(r["id"]))


@dataclass(frozen=True, slots=True)
class Record:
    """One person's week: scheduled versus actual."""

    person: Person
    scheduled_s: int
    on_duty_s: int
    conversations: int
    escalations: int | None  # None: no escalations table in this deployment


async def _load(conn: asyncpg.Connection | asyncpg.Pool, first: dt.date, last: dt.date,
                ) -> tuple[list[Pattern], list[Change]]:
    # Patterns of disabled accounts are kept (history) but schedule nobody.
    patterns = [_pattern(r) for r in await conn.fetch(
        "SELECT p.* FROM roster_patterns p JOIN staff s ON s.id = p.staff_id"
        " WHERE s.disabled_at IS NULL AND (p.valid_from IS NULL OR p.valid_from <= $2)"
        " AND (p.valid_until IS NULL OR p.valid_until >= $1)", first, last)]
    changes = [_change(r) for r in await conn.fetch(
        "SELECT c.* FROM roster_changes c JOIN staff s ON s.id = c.staff_id"
        " WHERE s.disabled_at IS NULL AND c.day BETWEEN $1 AND $2", first, last)]
    return patterns, changes


class RosterStore:
    def __init__(self, pool: asyncpg.Pool, tz: ZoneInfo, window: Window,
                 clock: Clock = system_clock) -> None:
        self.pool = pool
        self.tz = tz
        self.window = window  # service hours every shift must lie inside
        self.clock = clock  # the node's clock, for the times rows are written

    # ---- reading ----------------------------------------------------------------------

    async def people(self) -> dict[str, Person]:
        rows = await self.pool.fetch(
            "SELECT id, username, display_name, role FROM staff WHERE disabled_at IS NULL")
        return {str(r["id"]): Person(str(r["id"]), r["username"], r["display_name"], r["role"])
                for r in rows}

    async def patterns(self, staff_id: str | None = None) -> list[Pattern]:
        rows = await self.pool.fetch(
            "SELECT * FROM roster_patterns WHERE $1::uuid IS NULL OR staff_id = $1"
            " ORDER BY staff_id, start_minute", _uuid(staff_id) if staff_id else None)
        return [_pattern(r) for r in rows]

    async def changes(self, first: dt.date, last: dt.date) -> list[Change]:
        rows = await self.pool.fetch(
            "SELECT * FROM roster_changes WHERE day BETWEEN $1 AND $2 ORDER BY day, start_minute",
            first, last)
        return [_change(r) for r in rows]

    async def shifts(self, first: dt.date, last: dt.date) -> list[Shift]:
        patterns, changes = await _load(self.pool, first, last)
        return expand(patterns, changes, first, last, self.window.closed_days)

    async def shifts_around(self, now: dt.datetime) -> list[Shift]:
        """Shifts of yesterday, today and tomorrow (local): enough for any duty decision."""
        today = now.astimezone(self.tz).date()
        return await self.shifts(today - dt.timedelta(days=1), today + dt.timedelta(days=1))

    async def in_use(self) -> bool:
        """Whether anyone is rostered at all (a fresh install has no roster yet)."""
        return bool(await self.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM roster_patterns)"
            " OR EXISTS (SELECT 1 FROM roster_changes)"))

    # ---- writing ----------------------------------------------------------------------

    async def add_pattern(self, p: Pattern, by: str | None) -> Pattern:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK)
            existing = [_pattern(r) for r in await conn.fetch(
                "SELECT * FROM roster_patterns WHERE staff_id = $1", _uuid(p.staff_id))]
            errors = check_pattern(p, existing, self.window)
            errors += await self._pattern_vs_extras(conn, p)
            if errors:
                raise RosterError(errors)
            new_id = await conn.fetchval(
                "INSERT INTO roster_patterns (staff_id, weekdays, start_minute, end_minute,"
                " valid_from, valid_until, note, created_by, created_at)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
                " RETURNING id", _uuid(p.staff_id), sorted(p.weekdays), p.start, p.end,
                p.valid_from, p.valid_until, p.note, _uuid(by) if by else None, self.clock())
        return Pattern(p.staff_id, p.weekdays, p.start, p.end, p.valid_from, p.valid_until,
                       p.note, str(new_id))

    async def _pattern_vs_extras(self, conn: asyncpg.Connection, p: Pattern) -> list[str]:
        rows = await conn.fetch(
            "SELECT * FROM roster_changes WHERE staff_id = $1 AND kind = 'extra'"
            " AND ($2::date IS NULL OR day >= $2) AND ($3::date IS NULL OR day <= $3)",
            _uuid(p.staff_id), p.valid_from, p.valid_until)
        return [f"overlaps this person's extra shift on {c.day}"
                for c in map(_change, rows)
                if p.applies(c.day) and c.start < p.end and p.start < c.end]

    async def delete_pattern(self, pattern_id: str) -> bool:
        return await self.pool.fetchval(
            "DELETE FROM roster_patterns WHERE id = $1 RETURNING true", _uuid(pattern_id)) is True

    async def add_change(self, c: Change, by: str | None) -> Change:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK)
            patterns, changes = await _load(conn, c.day, c.day)
            errors = check_change(c, patterns, changes, self.window)
            if errors:
                raise RosterError(errors)
            new_id = await conn.fetchval(
                "INSERT INTO roster_changes (staff_id, day, kind, start_minute, end_minute, note,"
                " created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id",
                _uuid(c.staff_id), c.day, str(c.kind), c.start, c.end, c.note,
                _uuid(by) if by else None, self.clock())
        return Change(c.staff_id, c.day, c.kind, c.start, c.end, c.note, str(new_id))

    async def delete_change(self, change_id: str) -> bool:
        return await self.pool.fetchval(
            "DELETE FROM roster_changes WHERE id = $1 RETURNING true", _uuid(change_id)) is True

    async def import_shifts(self, first: dt.date, last: dt.date, desired: Sequence[Shift],
                            by: str | None) -> int:
        """Make the concrete shifts of [first, last] exactly `desired`; returns days changed.

        Weekly patterns stay; each (person, day) that differs gets its one-off changes
        rewritten as the leave and extra that turn the pattern into the wanted shifts, so a
        re-import of an unedited export changes nothing at all.
        """
        want: dict[tuple[dt.date, str], list[Shift]] = defaultdict(list)
        for s in desired:
            want[(s.day, s.staff_id)].append(s)
        changed = 0
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK)
            patterns, changes = await _load(conn, first, last)
            have: dict[tuple[dt.date, str], list[Shift]] = defaultdict(list)
            for s in expand(patterns, changes, first, last, self.window.closed_days):
                have[(s.day, s.staff_id)].append(s)
            creator = _uuid(by) if by else None
            for key in sorted(set(want) | set(have)):
                day, staff_id = key
                wanted = merge((s.start, s.end) for s in want.get(key, []))
                current = [(s.start, s.end) for s in have.get(key, [])]
                notes = {(s.start, s.end): s.note for s in want.get(key, [])}
                if wanted == current and all(
                        s.note == notes.get((s.start, s.end), "") for s in have.get(key, [])):
                    continue
                changed += 1
                await conn.execute("DELETE FROM roster_changes WHERE staff_id = $1 AND day = $2",
                                   _uuid(staff_id), day)
                leave, extra = diff_day(pattern_intervals(patterns, staff_id, day), wanted)
                for kind, spans in ((ChangeKind.LEAVE, leave), (ChangeKind.EXTRA, extra)):
                    for lo, hi in spans:
                        await conn.execute(
                            "INSERT INTO roster_changes (staff_id, day, kind, start_minute,"
                            " end_minute, note, created_by, created_at)"
                            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                            _uuid(staff_id), day, str(kind), lo, hi,
                            notes.get((lo, hi), "") if kind is ChangeKind.EXTRA else "csv import",
                            creator, self.clock())
        return changed

    # ---- approvals --------------------------------------------------------------------

    async def approve(self, staff_id: str, until: dt.datetime, by: str) -> None:
        await self.pool.execute(
            "INSERT INTO duty_approvals (staff_id, approved_by, until, created_at)"
            " VALUES ($1, $2, $3, $4)",
            _uuid(staff_id), _uuid(by), until, self.clock())

    async def approved_until(self, staff_id: str, now: dt.datetime) -> dt.datetime | None:
        until: dt.datetime | None = await self.pool.fetchval(
            "SELECT max(until) FROM duty_approvals WHERE staff_id = $1 AND until > $2",
            _uuid(staff_id), now)
        return until

    # ---- records ----------------------------------------------------------------------

    async def records(self, monday: dt.date, now: dt.datetime) -> list[Record]:
        sunday = monday + dt.timedelta(days=6)
        start, end = at(monday, 0, self.tz), at(sunday + dt.timedelta(days=1), 0, self.tz)
        people = {k: p for k, p in (await self.people()).items()
                  if p.role in ("counselor", "supervisor")}
        scheduled: dict[str, int] = defaultdict(int)
        for s in await self.shifts(monday, sunday):
            scheduled[s.staff_id] += (s.end - s.start) * 60
        events: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
        # Back one day: someone may have gone on duty before the week began.
        for r in await self.pool.fetch(
                "SELECT actor_staff_id, at, action FROM audit_log WHERE action IN"
                " ('duty_on', 'duty_off') AND at >= $1 AND at < $2 ORDER BY at, id",
                start - dt.timedelta(days=1), end):
            events[str(r["actor_staff_id"])].append((r["at"], r["action"]))
        convs = {str(r["counselor_id"]): r["n"] for r in await self.pool.fetch(
            "SELECT counselor_id, count(*) AS n FROM conversations WHERE counselor_id IS NOT NULL"
            " AND matched_at >= $1 AND matched_at < $2 GROUP BY counselor_id", start, end)}
        escalations = await self._escalations(start, end)
        return [
            Record(p, scheduled.get(sid, 0),
                   round(duty_seconds(events.get(sid, []), start, end, now)),
                   convs.get(sid, 0),
                   None if escalations is None else escalations.get(sid, 0))
            for sid, p in sorted(people.items(), key=lambda kv: (kv[1].role, kv[1].username))
        ]

    async def _escalations(self, start: dt.datetime, end: dt.datetime) -> dict[str, int] | None:
        """Escalations each supervisor took ownership of; None if that feature is absent."""
        has = await self.pool.fetchval(
            "SELECT count(*) = 2 FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = 'escalations' AND column_name IN ('owner_staff_id', 'opened_at')")
        if not has:
            return None
        rows = await self.pool.fetch(
            "SELECT owner_staff_id, count(*) AS n FROM escalations WHERE owner_staff_id IS NOT"
            " NULL AND opened_at >= $1 AND opened_at < $2 GROUP BY owner_staff_id", start, end)
        return {str(r["owner_staff_id"]): r["n"] for r in rows}


async def supervisor_of_the_hour(pool: asyncpg.Pool, now: dt.datetime, *,
                                 tz: ZoneInfo = SHANGHAI) -> list[str]:
    """Staff ids of the supervisors an escalation should go to first at `now`.

    Supervisors scheduled at `now`; if none, those scheduled at any time in the current
    local clock hour (a gap of a few minutes between shifts). Empty if nobody is rostered:
    the caller then alerts every supervisor. Disabled accounts are never returned.
    """
    local = now.astimezone(tz)
    day = local.date()
    patterns, changes = await _load(pool, day, day)
    rows = await pool.fetch("SELECT id FROM staff WHERE role = 'supervisor'"
                            " AND disabled_at IS NULL")
    supervisors = {str(r["id"]) for r in rows}
    shifts = [s for s in expand(patterns, changes, day, day) if s.staff_id in supervisors]
    found = on_shift(shifts, now, tz)
    if found:
        return found
    hour = local.hour * 60
    return sorted({s.staff_id for s in shifts if s.start < hour + 60 and hour < s.end})


def shift_json(s: Shift, people: dict[str, Person], tz: ZoneInfo) -> dict[str, Any]:
    p = people.get(s.staff_id)
    return {"date": s.day.isoformat(), "staff_id": s.staff_id,
            "username": p.username if p else None, "display_name": p.display_name if p else None,
            "role": p.role if p else None, "start": s.start_at(tz).isoformat(),
            "end": s.end_at(tz).isoformat(), "note": s.note}
