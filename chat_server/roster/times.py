"""Times of day as minutes after local midnight, weeks, and intervals of minutes: pure.

The roster's smallest pieces; roster/rules.py builds on them and names them too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ---- times ------------------------------------------------------------------------------


def minutes_of(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_hhmm(text: str) -> int:
    """'18:00' → 1080; '24:00' is the end of the day. ValueError otherwise."""
    m = _HHMM.match(text.strip())
    if not m:
        raise ValueError(f"time must be HH:MM, got {text!r}")
    h, mi = int(m[1]), int(m[2])
    if mi >= 60 or h > 24 or (h == 24 and mi):
        raise ValueError(f"time must be 00:00–24:00, got {text!r}")
    return h * 60 + mi


def at(day: dt.date, minutes: int, tz: ZoneInfo) -> dt.datetime:
    """The aware moment `minutes` after local midnight of `day` (wall clock, DST-safe)."""
    extra, m = divmod(minutes, DAY_MINUTES)
    d = day + dt.timedelta(days=extra)
    return dt.datetime.combine(d, dt.time(m // 60, m % 60), tz)


def parse_weekdays(text: str) -> frozenset[int]:
    """'mon-fri', 'mon,wed,sat', 'sat-mon' (wraps) → weekday numbers."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        if not part:
            continue
        ends = part.split("-")
        if len(ends) > 2 or any(e not in WEEKDAYS for e in ends):
            raise ValueError(f"weekdays must be like mon-fri or mon,wed; got {text!r}")
        a, b = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        i = a
        while True:
            days.add(i)
            if i == b:
                break
            i = (i + 1) % 7
    if not days:
        raise ValueError("weekdays must name at least one day")
    return frozenset(days)


def format_weekdays(days: Iterable[int]) -> str:
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def parse_week(text: str) -> dt.date:
    """'2026-W48' → the Monday of that ISO week."""
    m = re.match(r"^(\d{4})-W(\d{2})$", text.strip())
    if not m:
        raise ValueError(f"week must be like 2026-W48, got {text!r}")
    # Years a roster can name; a week of year 9999 runs past the last date Python has.
    if not 2000 <= int(m[1]) <= 2199:
        raise ValueError(f"week must be of a year from 2000 to 2199, got {text!r}")
    try:
        return dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise ValueError(f"no such week {text!r}") from None


# ---- intervals --------------------------------------------------------------------------

Interval = tuple[int, int]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def subtract(base: Iterable[Interval], cut: Iterable[Interval]) -> list[Interval]:
    result = merge(base)
    for cs, ce in merge(cut):
        nxt: list[Interval] = []
        for s, e in result:
            if ce <= s or cs >= e:
                nxt.append((s, e))
                continue
            if s < cs:
                nxt.append((s, cs))
            if ce < e:
                nxt.append((ce, e))
        result = nxt
    return result


def overlap(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]
