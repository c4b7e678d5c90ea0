from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from chat_server.roster.hours import Hours

SH = ZoneInfo("Asia/Shanghai")
HOURS = Hours(tz=SH, open_time=dt.time(10), close_time=None, closed_days=(dt.date(2026, 2, 17),))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2026-11-28 09:59:59", False),
        ("2026-11-28 10:00:00", True),
        ("2026-11-28 23:59:59", True),
        ("2026-11-29 00:00:00", False),
    ],
)
def test_edges_of_the_day(moment: str, is_open: bool) -> None:
    assert HOURS.is_open(at(moment)) is is_open


def test_next_open_and_close() -> None:
    assert HOURS.next_open(at("2026-11-28 09:59:59")) == at("2026-11-28 10:00:00")
    assert HOURS.next_open(at("2026-11-28 23:59:59")) == at("2026-11-29 10:00:00")
    assert HOURS.next_open(at("2026-11-29 00:00:00")) == at("2026-11-29 10:00:00")
    assert HOURS.closes_at(at("2026-11-28 23:59:59")) == at("2026-11-29 00:00:00")
    assert HOURS.closes_at(at("2026-11-29 00:00:00")) is None


def test_time_zone_is_shanghai_whatever_the_callers_zone() -> None:
    utc_moment = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    assert HOURS.is_open(utc_moment)
    assert not HOURS.is_open(utc_moment - dt.timedelta(seconds=1))


def test_closed_day_is_skipped() -> None:
    assert not HOURS.is_open(at("2026-02-17 12:00:00"))
    assert HOURS.next_open(at("2026-02-16 23:00:00")) == at("2026-02-18 10:00:00")


def test_configured_close_time() -> None:
    short = Hours(tz=SH, open_time=dt.time(10), close_time=dt.time(22))
    assert short.is_open(at("2026-11-28 21:59:59"))
    assert not short.is_open(at("2026-11-28 22:00:00"))
    assert short.describe() == {"open": "10:00", "close": "22:00", "timezone": "Asia/Shanghai"}
