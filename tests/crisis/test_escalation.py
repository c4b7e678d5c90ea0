"""Pure escalation rules: deadlines, raising (never lowering), audience, the screen."""

from __future__ import annotations

import datetime as dt

import pytest

from chat_server.crisis.escalation import (
    Deadlines,
    Status,
    audience,
    opens,
    overdue,
    parse_screen,
    raise_level,
    set_level_deadline,
)
from chat_server.crisis.levels import RiskLevel

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
D = Deadlines(60, 15)


def test_deadlines_by_level() -> None:
    assert D.for_level(RiskLevel.high, NOW) == NOW + dt.timedelta(seconds=60)
    assert D.for_level(RiskLevel.imminent, NOW) == NOW + dt.timedelta(seconds=15)


def test_only_high_and_imminent_open() -> None:
    assert [opens(lv) for lv in RiskLevel] == [False, False, True, True]


def test_signals_never_lower_the_level() -> None:
    deadline = NOW + dt.timedelta(seconds=60)
    step = raise_level(RiskLevel.imminent, RiskLevel.high, Status.OPEN, deadline, ("a",),
                       ("b", "a"), D, NOW)
    assert step.level is RiskLevel.imminent and not step.raised
    assert step.ack_deadline == deadline and step.reasons == ("a", "b")


def test_raising_to_imminent_shortens_an_open_deadline() -> None:
    deadline = NOW + dt.timedelta(seconds=50)
    later = NOW + dt.timedelta(seconds=10)
    step = raise_level(RiskLevel.high, RiskLevel.imminent, Status.OPEN, deadline, (), (), D,
                       later)
    assert step.raised and step.ack_deadline == later + dt.timedelta(seconds=15)
    # Never later than it was.
    soon = NOW + dt.timedelta(seconds=5)
    assert raise_level(RiskLevel.high, RiskLevel.imminent, Status.OPEN, soon, (), (), D,
                       later).ack_deadline == soon
    # Acknowledged: nobody is waiting for an ack any more.
    assert raise_level(RiskLevel.high, RiskLevel.imminent, Status.ACKNOWLEDGED, deadline, (),
                       (), D, later).ack_deadline == deadline


def test_set_level_deadline() -> None:
    deadline = NOW + dt.timedelta(seconds=60)
    assert set_level_deadline(RiskLevel.watch, Status.OPEN, deadline, D, NOW) == deadline
    assert set_level_deadline(RiskLevel.imminent, Status.OPEN, deadline, D, NOW) == (
        NOW + dt.timedelta(seconds=15))


def test_overdue() -> None:
    past = NOW - dt.timedelta(seconds=1)
    assert overdue(Status.OPEN, past, False, NOW)
    assert not overdue(Status.OPEN, past, True, NOW)
    assert not overdue(Status.ACKNOWLEDGED, past, False, NOW)
    assert not overdue(Status.OPEN, NOW, False, NOW)


def test_audience() -> None:
    assert audience(True).roles == ("supervisor",) and not audience(True).no_supervisor
    assert audience(False).roles == ("counselor",) and audience(False).no_supervisor
    assert audience(True, realert=True).roles == ("supervisor", "counselor")


def test_screen() -> None:
    s = parse_screen({"phq2_1": 3, "phq2_2": 2, "phq9_9": 0})
    assert s.phq2 == 5 and not s.self_harm
    assert parse_screen({"phq2_1": 0, "phq2_2": 0, "phq9_9": 1}).self_harm
    for bad in ({"phq2_1": 0, "phq2_2": 0}, {"phq2_1": 0, "phq2_2": 0, "phq9_9": True},
                {"phq2_1": -1, "phq2_2": 0, "phq9_9": 0}, []):
        with pytest.raises(ValueError):
            parse_screen(bad)
