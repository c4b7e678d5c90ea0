"""Service hours: when intake is open. Pure; `now` is always passed in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Hours:
    tz: ZoneInfo
    open_time: dt.time
    # None is midnight at the end of the day (a 10:00–24:00 service).
    close_time: dt.time | None
    closed_days: tuple[dt.date, ...] = ()

    def _window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        if day in self.closed_days:
            return None
        start = dt.datetime.combine(day, self.open_time, self.tz)
        if self.close_time is None:
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), self.tz)
        else:
            end = dt.datetime.combine(day, self.close_time, self.tz)
        return start, end

    def is_open(self, now: dt.datetime) -> bool:
        return self.closes_at(now) is not None

    def closes_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the current opening ends, or None if closed at `now`."""
        local = now.astimezone(self.tz)
        window = self._window(local.date())
        if window and window[0] <= local < window[1]:
            return window[1]
        return None

    def next_open(self, now: dt.datetime) -> dt.datetime:
        """The next moment intake opens after `now` (today's opening if still ahead)."""
        local = now.astimezone(self.tz)
        for offset in range(0, 400):
            window = self._window(local.date() + dt.timedelta(days=offset))
            if window and window[0] > local:
                return window[0]
        raise ValueError("no opening within a year: check the closed days")

    def describe(self) -> dict[str, str]:
        close = "24:00" if self.close_time is None else self.close_time.strftime("%H:%M")
        return {
            "open": self.open_time.strftime("%H:%M"),
            "close": close,
            "timezone": self.tz.key,
        }
