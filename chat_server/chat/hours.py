"""What the chat core asks of the service hours (roster/hours.py implements it): the chat
core reads the hours, the roster owns them, so the dependency runs roster → chat."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo


class ServiceHours(Protocol):
    @property
    def tz(self) -> ZoneInfo: ...

    def is_open(self, now: dt.datetime) -> bool: ...

    def closes_at(self, now: dt.datetime) -> dt.datetime | None: ...

    def next_open(self, now: dt.datetime) -> dt.datetime: ...

    def describe(self) -> dict[str, str]: ...
