"""The roster's values: patterns, one-off changes, shifts, people, the service window.

Pure, frozen values; roster/rules.py computes with them and names them too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from chat_server.roster.times import DAY_MINUTES, at, hhmm, minutes_of
from yizhan_errors import YizhanError


class RosterError(YizhanError):
    """Refused roster input; `errors` lists every problem (CSV: with line numbers)."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


class ChangeKind(StrEnum):
    LEAVE = "leave"  # removes pattern time (whole day when it spans the window)
    EXTRA = "extra"  # adds a one-off shift (an extra shift, or the taking side of a swap)


@dataclass(frozen=True, slots=True)
class Pattern:
    staff_id: str
    weekdays: frozenset[int]  # 0 = Monday, as date.weekday()
    start: int
    end: int
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None  # inclusive
    note: str = ""
    id: str = ""

    def applies(self, day: dt.date) -> bool:
        return (
            day.weekday() in self.weekdays
            and (self.valid_from is None or day >= self.valid_from)
            and (self.valid_until is None or day <= self.valid_until)
        )


@dataclass(frozen=True, slots=True)
class Change:
    staff_id: str
    day: dt.date
    kind: ChangeKind
    start: int
    end: int
    note: str = ""
    id: str = ""


@dataclass(frozen=True, slots=True, order=True)
class Shift:
    day: dt.date
    start: int
    end: int
    staff_id: str
    note: str = field(default="", compare=False)

    def start_at(self, tz: ZoneInfo) -> dt.datetime:
        return at(self.day, self.start, tz)

    def end_at(self, tz: ZoneInfo) -> dt.datetime:
        return at(self.day, self.end, tz)


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    username: str
    display_name: str
    role: str  # counselor | supervisor | admin


@dataclass(frozen=True, slots=True)
class Window:
    """Service hours of a day, in minutes: shifts must lie inside."""

    open: int
    close: int
    closed_days: frozenset[dt.date] = frozenset()

    @classmethod
    def of(cls, open_time: dt.time, close_time: dt.time | None,
           closed_days: Iterable[dt.date] = ()) -> Window:
        close = DAY_MINUTES if close_time is None else minutes_of(close_time)
        return cls(minutes_of(open_time), close, frozenset(closed_days))

    def describe(self) -> str:
        return f"{hhmm(self.open)}–{hhmm(self.close)}"
