"""Pure roster rules: expansion, coverage, CSV, duty windows, wait hints, records."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from chat_server.roster.rules import (
    Change,
    ChangeKind,
    Pattern,
    Person,
    RosterError,
    Shift,
    Target,
    Window,
    check_change,
    check_pattern,
    coverage,
    days_between,
    diff_day,
    duty_allowed,
    duty_seconds,
    expand,
    format_csv,
    gaps_first,
    parse_csv,
    parse_targets,
    parse_week,
    parse_weekdays,
    subtract,
    wait_outlook,
)

TZ = ZoneInfo("Asia/Shanghai")
W = Window(600, 1440)
D = dt.date


def t(h: int, m: int = 0) -> int:
    return h * 60 + m


def test_pattern_and_exception_across_a_week_boundary() -> None:
    # Fri 2026-11-27 … Tue 2026-12-01: ISO week 48 ends on Sunday the 29th.
    weekday = Pattern("a", parse_weekdays("mon-fri"), t(18), t(24))
    weekend = Pattern("b", parse_weekdays("sat-sun"), t(10), t(16))
    changes = [
        Change("a", D(2026, 11, 30), ChangeKind.LEAVE, t(18), t(20)),  # Monday: late start
        Change("b", D(2026, 11, 30), ChangeKind.EXTRA, t(10), t(14), "swap"),
        Change("a", D(2026, 12, 1), ChangeKind.LEAVE, t(10), t(24)),  # Tuesday: whole day off
    ]
    got = expand([weekday, weekend], changes, D(2026, 11, 27), D(2026, 12, 1))
    assert got == [
        Shift(D(2026, 11, 27), t(18), t(24), "a"),
        Shift(D(2026, 11, 28), t(10), t(16), "b"),
        Shift(D(2026, 11, 29), t(10), t(16), "b"),
        Shift(D(2026, 11, 30), t(10), t(14), "b"),
        Shift(D(2026, 11, 30), t(20), t(24), "a"),
    ]
    assert got[3].note == "swap"
    assert got[4].end_at(TZ) == dt.datetime(2026, 12, 1, 0, 0, tzinfo=TZ)


def test_validity_and_closed_days() -> None:
    p = Pattern("a", frozenset(range(7)), t(10), t(12), D(2026, 12, 2), D(2026, 12, 3))
    got = expand([p], [], D(2026, 12, 1), D(2026, 12, 5), closed_days=[D(2026, 12, 3)])
    assert [s.day for s in got] == [D(2026, 12, 2)]


def test_weekday_parsing() -> None:
    assert parse_weekdays("sat-mon") == {5, 6, 0}
    assert parse_weekdays("mon,wed") == {0, 2}
    with pytest.raises(ValueError):
        parse_weekdays("funday")
    assert parse_week("2026-W48") == D(2026, 11, 23)
    with pytest.raises(ValueError):
        parse_week("2026-48")


def test_overlaps_and_hours_are_refused() -> None:
    existing = [Pattern("a", parse_weekdays("mon-fri"), t(18), t(24), id="p1")]
    errors = check_pattern(Pattern("a", parse_weekdays("fri-sun"), t(20), t(22)), existing, W)
    assert errors and "overlaps" in errors[0]
    assert check_pattern(Pattern("b", parse_weekdays("fri"), t(20), t(22)), existing, W) == []
    assert check_pattern(Pattern("a", parse_weekdays("sat"), t(20), t(22)), existing, W) == []
    # Same weekdays but validity ranges that do not meet: fine.
    later = Pattern("a", parse_weekdays("mon"), t(18), t(20), valid_from=D(2027, 1, 1))
    ended = [Pattern("a", parse_weekdays("mon"), t(18), t(20), valid_until=D(2026, 12, 31))]
    assert check_pattern(later, ended, W) == []
    out = check_pattern(Pattern("a", parse_weekdays("sat"), t(8), t(12)), existing, W)
    assert out == ["08:00–12:00 is outside service hours 10:00–24:00"]
    monday = D(2026, 11, 30)
    clash = Change("a", monday, ChangeKind.EXTRA, t(17), t(19))
    assert "overlaps" in check_change(clash, existing, [], W)[0]
    after_leave = [Change("a", monday, ChangeKind.LEAVE, t(18), t(24))]
    assert check_change(clash, existing, after_leave, W) == []


def test_diff_day_reproduces_the_wanted_shifts() -> None:
    pattern = [(t(18), t(24))]
    for wanted in ([], [(t(18), t(22))], [(t(10), t(12)), (t(18), t(24))], [(t(19), t(23))]):
        leave, extra = diff_day(pattern, wanted)
        assert sorted(subtract(pattern, leave) + extra) == wanted


def test_coverage_lists_the_right_gaps() -> None:
    roles = {"c1": "counselor", "c2": "counselor", "s1": "supervisor"}
    day = D(2026, 12, 1)
    shifts = [Shift(day, t(18), t(24), "c1"), Shift(day, t(18), t(24), "c2"),
              Shift(day, t(20), t(24), "s1"), Shift(day, t(10), t(13, 30), "c1")]
    hours = coverage(shifts, roles, [day], W, parse_targets("23=3/1"))
    assert len(hours) == 14
    gaps = {h.hour for h in hours if h.gap}
    # 10–12 one counselor, 13 half an hour only, 14–17 nobody, 18–19 no supervisor, 23 wants 3.
    assert gaps == {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 23}
    ordered = gaps_first(hours)
    assert [h.hour for h in ordered[:11]] == [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 23]
    assert [h.hour for h in ordered[11:]] == [20, 21, 22]
    h23 = next(h for h in hours if h.hour == 23)
    assert (h23.missing_counselors, h23.missing_supervisors, h23.target) == (1, 0, Target(3, 1))
    h18 = next(h for h in hours if h.hour == 18)
    assert h18.counselors == ("c1", "c2") and h18.missing_supervisors == 1


def test_targets_parse() -> None:
    assert parse_targets("20-22=3/1,10=1/0") == {20: Target(3, 1), 21: Target(3, 1),
                                                 10: Target(1, 0)}
    for bad in ("20-25=1/1", "x", "22-20=1/1"):
        with pytest.raises(ValueError):
            parse_targets(bad)


def test_duty_window() -> None:
    day = D(2026, 12, 1)
    mine = [Shift(day, t(18), t(24), "a")]
    lead = dt.timedelta(minutes=15)
    def at(h: int, m: int = 0) -> dt.datetime:
        return dt.datetime(2026, 12, 1, h, m, tzinfo=TZ)
    assert not duty_allowed(mine, at(17, 30), TZ, lead)
    assert duty_allowed(mine, at(17, 50), TZ, lead)
    assert duty_allowed(mine, at(23, 59), TZ, lead)
    assert not duty_allowed(mine, dt.datetime(2026, 12, 2, 0, 0, tzinfo=TZ), TZ, lead)


def test_wait_outlook_tells_the_truth_near_closing() -> None:
    day = D(2026, 12, 1)
    late = [Shift(day, t(18), t(24), "a")]
    now = dt.datetime(2026, 12, 1, 23, 40, tzinfo=TZ)
    o = wait_outlook(late, now, TZ, 1800)
    assert o.no_counselor_scheduled_soon and o.scheduled_until == dt.datetime(
        2026, 12, 2, tzinfo=TZ)
    assert not wait_outlook(late, now, TZ, 0).no_counselor_scheduled_soon
    assert wait_outlook([], now, TZ, None).no_counselor_scheduled_soon
    # Nobody on duty, a counselor starts at 10:30: wait until then, not "unknown".
    morning = [Shift(day, t(10, 30), t(14), "b")]
    o = wait_outlook(morning, dt.datetime(2026, 12, 1, 10, 0, 10, tzinfo=TZ), TZ, None)
    assert o.estimated_wait_s == 1800 and not o.no_counselor_scheduled_soon
    # Back-to-back shifts of different people are one span of coverage.
    chain = [Shift(day, t(10), t(16), "b"), Shift(day, t(16), t(24), "a")]
    o = wait_outlook(chain, dt.datetime(2026, 12, 1, 15, 50, tzinfo=TZ), TZ, 1200)
    assert not o.no_counselor_scheduled_soon and o.scheduled_until.hour == 0


def test_duty_seconds() -> None:
    base = dt.datetime(2026, 12, 1, 18, tzinfo=TZ)
    h = dt.timedelta(hours=1)
    events = [(base, "duty_on"), (base + h, "duty_off"), (base + 2 * h, "duty_on")]
    assert duty_seconds(events, base, base + 10 * h, base + 3 * h) == 2 * 3600
    # Clipped at the start of the range.
    assert duty_seconds(events[:2], base + 0.5 * h, base + 10 * h, base + 3 * h) == 1800


PEOPLE = {"lin": Person("1", "lin", "小林", "counselor"),
          "wang": Person("2", "wang", "小王", "supervisor"),
          "root": Person("3", "root", "管理员", "admin")}


def test_csv_round_trip() -> None:
    shifts = [Shift(D(2026, 12, 1), t(18), t(24), "1"), Shift(D(2026, 12, 1), t(10), t(16), "2",
                                                             "换班")]
    text = format_csv(shifts, {p.id: p for p in PEOPLE.values()})
    assert text.splitlines()[1] == "2026-12-01,wang,supervisor,10:00,16:00,换班"
    assert parse_csv(text, PEOPLE, D(2026, 12, 1), D(2026, 12, 31), W) == sorted(shifts)


def test_malformed_csv_is_refused_whole_with_line_numbers() -> None:
    text = ("date,username,role,start,end,note\n"
            "2026-12-01,lin,counselor,18:00,24:00,\n"
            "2026-13-01,lin,counselor,18:00,24:00,\n"
            "2026-12-02,nobody,counselor,18:00,24:00,\n"
            "\n"
            "2026-12-03,lin,counselor,25:00,24:00,\n"
            "2026-12-01,lin,counselor,20:00,22:00,\n"
            "2026-12-04,root,admin,10:00,12:00,\n"
            "2026-12-04,lin,counselor,08:00,12:00,\n"
            "2027-01-01,lin,counselor,10:00,12:00,\n"
            "2026-12-05,lin\n")
    with pytest.raises(RosterError) as caught:
        parse_csv(text, PEOPLE, D(2026, 12, 1), D(2026, 12, 31), W)
    lines = [e.split(":")[0] for e in caught.value.errors]
    assert lines == ["line 3", "line 4", "line 6", "line 8", "line 9", "line 10", "line 11",
                     "line 7"]
    assert "overlaps line 2" in caught.value.errors[-1]
    with pytest.raises(RosterError, match="line 1"):
        parse_csv("day,who\n", PEOPLE, D(2026, 12, 1), D(2026, 12, 31), W)


def test_ranges_are_bounded() -> None:
    with pytest.raises(RosterError):
        days_between(D(2026, 12, 2), D(2026, 12, 1))
    with pytest.raises(RosterError):
        days_between(D(2026, 1, 1), D(2028, 1, 1))
