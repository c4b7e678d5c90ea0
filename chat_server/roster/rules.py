"""The roster, pure: weekly patterns and one-off changes → concrete shifts, coverage, duty rules,
CSV. No I/O and no clock: `now` is always passed in.

Times of day are minutes after local midnight (0–1440; 1440 is 24:00) in the service's time
zone, because a union office plans in wall-clock hours and service never crosses midnight.
A day's shifts for one person are (pattern shifts − leave) ∪ extra shifts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from chat_server.roster.shifts import (
    Change,
    ChangeKind,
    Pattern,
    Person,
    RosterError,
    Shift,
    Window,
)
from chat_server.roster.times import (
    DAY_MINUTES,
    WEEKDAYS,
    Interval,
    at,
    format_weekdays,
    hhmm,
    merge,
    minutes_of,
    overlap,
    parse_hhmm,
    parse_week,
    parse_weekdays,
    subtract,
)

# The pieces moved to times.py and shifts.py are still named here, where callers import them.
__all__ = [
    "DAY_MINUTES",
    "WEEKDAYS",
    "Change",
    "ChangeKind",
    "Interval",
    "Pattern",
    "Person",
    "RosterError",
    "Shift",
    "Window",
    "at",
    "format_weekdays",
    "hhmm",
    "merge",
    "minutes_of",
    "parse_hhmm",
    "parse_week",
    "parse_weekdays",
    "subtract",
]

CSV_HEADER = ("date", "username", "role", "start", "end", "note")
MAX_CSV_ROWS = 20000
MAX_RANGE_DAYS = 400


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    if last < first:
        raise RosterError([f"range ends ({last}) before it starts ({first})"])
    if (last - first).days >= MAX_RANGE_DAYS:
        raise RosterError([f"range is longer than {MAX_RANGE_DAYS} days"])
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# ---- expansion --------------------------------------------------------------------------


def pattern_intervals(patterns: Iterable[Pattern], staff_id: str, day: dt.date) -> list[Interval]:
    return merge((p.start, p.end) for p in patterns if p.staff_id == staff_id and p.applies(day))


def expand(patterns: Sequence[Pattern], changes: Sequence[Change], first: dt.date,
           last: dt.date, closed_days: Iterable[dt.date] = ()) -> list[Shift]:
    """Concrete shifts from `first` to `last` inclusive, sorted by day, start, person."""
    closed = set(closed_days)
    by_day: dict[tuple[dt.date, str], list[Change]] = defaultdict(list)
    for c in changes:
        if first <= c.day <= last:
            by_day[(c.day, c.staff_id)].append(c)
    shifts: list[Shift] = []
    for day in days_between(first, last):
        if day in closed:
            continue
        people = {p.staff_id for p in patterns if p.applies(day)}
        people |= {sid for (d, sid) in by_day if d == day}
        for sid in people:
            mine = by_day.get((day, sid), [])
            leave = [(c.start, c.end) for c in mine if c.kind is ChangeKind.LEAVE]
            extra = [(c.start, c.end) for c in mine if c.kind is ChangeKind.EXTRA]
            notes = {(c.start, c.end): c.note for c in mine if c.kind is ChangeKind.EXTRA}
            for s, e in merge(subtract(pattern_intervals(patterns, sid, day), leave) + extra):
                shifts.append(Shift(day, s, e, sid, notes.get((s, e), "")))
    return sorted(shifts)


# ---- validation -------------------------------------------------------------------------


def check_times(start: int, end: int, window: Window) -> list[str]:
    if end <= start:
        return [f"a shift must end after it starts ({hhmm(start)}–{hhmm(end)})"]
    if start < window.open or end > window.close:
        return [f"{hhmm(start)}–{hhmm(end)} is outside service hours {window.describe()}"]
    return []


def check_pattern(new: Pattern, existing: Sequence[Pattern], window: Window) -> list[str]:
    errors = check_times(new.start, new.end, window)
    if new.valid_from and new.valid_until and new.valid_until < new.valid_from:
        errors.append("valid_until is before valid_from")
    far = dt.date.max
    for p in existing:
        if p.staff_id != new.staff_id or p.id == new.id or not (p.weekdays & new.weekdays):
            continue
        if not overlap((p.start, p.end), (new.start, new.end)):
            continue
        a0, a1 = p.valid_from or dt.date.min, p.valid_until or far
        b0, b1 = new.valid_from or dt.date.min, new.valid_until or far
        if a0 <= b1 and b0 <= a1:
            errors.append(
                f"overlaps this person's weekly shift {format_weekdays(p.weekdays)} "
                f"{hhmm(p.start)}–{hhmm(p.end)}"
            )
    return errors


def check_change(new: Change, patterns: Sequence[Pattern], changes: Sequence[Change],
                 window: Window) -> list[str]:
    errors = check_times(new.start, new.end, window)
    if new.kind is ChangeKind.EXTRA:
        if new.day in window.closed_days:
            errors.append(f"{new.day} is a closed day")
        mine = [c for c in changes if c.staff_id == new.staff_id and c.day == new.day]
        leave = [(c.start, c.end) for c in mine if c.kind is ChangeKind.LEAVE]
        busy = subtract(pattern_intervals(patterns, new.staff_id, new.day), leave)
        busy += [(c.start, c.end) for c in mine if c.kind is ChangeKind.EXTRA]
        for s, e in busy:
            if overlap((s, e), (new.start, new.end)):
                errors.append(f"overlaps this person's shift on {new.day} {hhmm(s)}–{hhmm(e)}")
    return errors


def diff_day(pattern: Sequence[Interval], desired: Sequence[Interval],
             ) -> tuple[list[Interval], list[Interval]]:
    """(leave, extra) that turn this day's pattern shifts into exactly `desired`."""
    return subtract(pattern, desired), subtract(desired, pattern)


# ---- coverage ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    counselors: int = 2
    supervisors: int = 1


def parse_targets(text: str) -> dict[int, Target]:
    """'20-24=3/1,10=1/1': hours 20:00–23:59 need 3 counselors and 1 supervisor, … ."""
    out: dict[int, Target] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        m = re.match(r"^(\d{1,2})(?:-(\d{1,2}))?=(\d{1,2})/(\d{1,2})$", part)
        if not m:
            raise ValueError(f"target must be like 20-24=3/1 (hours=counselors/supervisors): "
                             f"{part!r}")
        a = int(m[1])
        b = int(m[2]) if m[2] else a + 1
        if not 0 <= a < b <= 24:
            raise ValueError(f"hours must be within 0-24: {part!r}")
        for h in range(a, b):
            out[h] = Target(int(m[3]), int(m[4]))
    return out


@dataclass(frozen=True, slots=True)
class HourCoverage:
    day: dt.date
    hour: int
    counselors: tuple[str, ...]  # staff ids scheduled for the whole hour
    supervisors: tuple[str, ...]
    target: Target

    @property
    def missing_counselors(self) -> int:
        return max(0, self.target.counselors - len(self.counselors))

    @property
    def missing_supervisors(self) -> int:
        return max(0, self.target.supervisors - len(self.supervisors))

    @property
    def gap(self) -> bool:
        return bool(self.missing_counselors or self.missing_supervisors)


def coverage(shifts: Sequence[Shift], roles: Mapping[str, str], days: Sequence[dt.date],
             window: Window, targets: Mapping[int, Target], default: Target = Target(),
             ) -> list[HourCoverage]:
    """Every service hour of `days`; a person counts for an hour only if scheduled all of it."""
    out: list[HourCoverage] = []
    for day in days:
        if day in window.closed_days:
            continue
        todays = [s for s in shifts if s.day == day]
        for hour in range(window.open // 60, math.ceil(window.close / 60)):
            h0, h1 = max(hour * 60, window.open), min(hour * 60 + 60, window.close)
            here = sorted({s.staff_id for s in todays if s.start <= h0 and s.end >= h1})
            out.append(HourCoverage(
                day, hour,
                tuple(s for s in here if roles.get(s) == "counselor"),
                tuple(s for s in here if roles.get(s) == "supervisor"),
                targets.get(hour, default)))
    return out


def gaps_first(hours: Sequence[HourCoverage]) -> list[HourCoverage]:
    return sorted(hours, key=lambda h: (not h.gap, h.day, h.hour))


# ---- duty -------------------------------------------------------------------------------


def duty_allowed(shifts: Sequence[Shift], now: dt.datetime, tz: ZoneInfo,
                 lead: dt.timedelta) -> bool:
    """May this person (whose shifts these are) be on duty at `now`? From `lead` before a shift."""
    return any(s.start_at(tz) - lead <= now < s.end_at(tz) for s in shifts)


def next_shift(shifts: Sequence[Shift], now: dt.datetime, tz: ZoneInfo) -> Shift | None:
    later = [s for s in shifts if s.start_at(tz) > now]
    return min(later, key=lambda s: s.start_at(tz)) if later else None


def on_shift(shifts: Sequence[Shift], moment: dt.datetime, tz: ZoneInfo) -> list[str]:
    """Staff ids scheduled at `moment`."""
    return sorted({s.staff_id for s in shifts if s.start_at(tz) <= moment < s.end_at(tz)})


# ---- waiting ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitOutlook:
    estimated_wait_s: int | None
    no_counselor_scheduled_soon: bool
    scheduled_until: dt.datetime | None


def wait_outlook(counselor_shifts: Sequence[Shift], now: dt.datetime, tz: ZoneInfo,
                 estimate_s: int | None, horizon: dt.timedelta = dt.timedelta(hours=1),
                 ) -> WaitOutlook:
    """What to tell a waiting worker given who is scheduled.

    `scheduled_until` is the end of unbroken counselor coverage that is running now or starts
    within `horizon`. If nobody is on duty but someone starts within the horizon, the wait is
    until then. The worker is told nobody is scheduled soon when the expected moment of being
    reached is not covered: a queue at 23:40 with a 30-minute wait and nobody after 24:00.
    """
    spans = merge(
        (int((s.start_at(tz) - now).total_seconds()), int((s.end_at(tz) - now).total_seconds()))
        for s in counselor_shifts)
    current = next((sp for sp in spans if sp[1] > 0 and sp[0] <= horizon.total_seconds()), None)
    if current is None:
        return WaitOutlook(estimate_s, True, None)
    until = now + dt.timedelta(seconds=current[1])
    estimate = estimate_s
    if estimate is None and current[0] > 0:
        # Nobody on duty yet, but a counselor starts soon: that is the honest wait.
        estimate = math.ceil(current[0] / 60) * 60
    reached = now + dt.timedelta(seconds=estimate or 0)
    return WaitOutlook(estimate, reached >= until, until)


# ---- records ----------------------------------------------------------------------------


def duty_seconds(events: Sequence[tuple[dt.datetime, str]], first: dt.datetime,
                 last: dt.datetime, now: dt.datetime) -> float:
    """Seconds on duty inside [first, last) from ordered (at, 'duty_on'|'duty_off') events.

    A missing duty_off (node died, presence expired) closes at `now` or `last`, whichever is
    earlier; a second duty_on while on keeps the first start.
    """
    total = 0.0
    since: dt.datetime | None = None
    for when, action in sorted(events):
        if action == "duty_on" and since is None:
            since = when
        elif action == "duty_off" and since is not None:
            total += _clip(since, when, first, last)
            since = None
    if since is not None:
        total += _clip(since, min(now, last), first, last)
    return total


def _clip(a: dt.datetime, b: dt.datetime, first: dt.datetime, last: dt.datetime) -> float:
    return max(0.0, (min(b, last) - max(a, first)).total_seconds())


# ---- CSV --------------------------------------------------------------------------------


def format_csv(shifts: Sequence[Shift], people: Mapping[str, Person]) -> str:
    """One row per shift, spreadsheet friendly: date,username,role,start,end,note."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for s in sorted(shifts, key=lambda s: (s.day, s.start, people[s.staff_id].username)):
        p = people[s.staff_id]
        w.writerow([s.day.isoformat(), p.username, p.role, hhmm(s.start), hhmm(s.end), s.note])
    return buf.getvalue()


def parse_csv(text: str, people_by_username: Mapping[str, Person], first: dt.date,
              last: dt.date, window: Window) -> list[Shift]:
    """Shifts from a CSV for [first, last]; raises RosterError listing every bad line.

    Refused whole: one bad line and nothing is imported. `role` is informative only (the
    account decides); blank lines are skipped; a leading BOM (Excel) is accepted.
    """
    errors: list[str] = []
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or [c.strip().lower() for c in rows[0][:5]] != list(CSV_HEADER[:5]):
        raise RosterError([f"line 1: header must be {','.join(CSV_HEADER)}"])
    if len(rows) > MAX_CSV_ROWS:
        raise RosterError([f"more than {MAX_CSV_ROWS} rows"])
    shifts: list[tuple[int, Shift]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 5:
            errors.append(f"line {line}: expected {len(CSV_HEADER)} columns, got {len(row)}")
            continue
        day_text, username, _role, start_text, end_text = (c.strip() for c in row[:5])
        note = row[5].strip() if len(row) > 5 else ""
        problems: list[str] = []
        day: dt.date | None
        start: int | None
        end: int | None
        try:
            day = dt.date.fromisoformat(day_text)
            if not first <= day <= last:
                problems.append(f"date {day} is outside {first}–{last}")
            elif day in window.closed_days:
                problems.append(f"{day} is a closed day")
        except ValueError:
            problems.append(f"date must be YYYY-MM-DD, got {day_text!r}")
            day = None
        person = people_by_username.get(username)
        if person is None:
            problems.append(f"unknown username {username!r}")
        elif person.role not in ("counselor", "supervisor"):
            problems.append(f"{username} is an {person.role}, not rostered")
        try:
            start, end = parse_hhmm(start_text), parse_hhmm(end_text)
            problems += check_times(start, end, window)
        except ValueError as exc:
            problems.append(str(exc))
            start = end = None
        if problems:
            errors.extend(f"line {line}: {p}" for p in problems)
        elif day and person and start is not None and end is not None:
            shifts.append((line, Shift(day, start, end, person.id, note)))
    seen: dict[tuple[dt.date, str], list[tuple[int, Shift]]] = defaultdict(list)
    for line, s in shifts:
        for other_line, o in seen[(s.day, s.staff_id)]:
            if overlap((s.start, s.end), (o.start, o.end)):
                errors.append(f"line {line}: overlaps line {other_line} for the same person")
        seen[(s.day, s.staff_id)].append((line, s))
    if errors:
        raise RosterError(errors)
    return sorted(s for _, s in shifts)
