"""Escalation rules without I/O: when a signal opens or raises one, deadlines, who is told.

The store and the node feature are thin pumps around these functions; `now` is passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from chat_server.crisis.levels import RiskLevel

# Levels at or above which an escalation is opened.
OPENS_AT = RiskLevel.high

# Outcomes a supervisor records when resolving (a fixed list, so reports can count them).
OUTCOMES = ("safe_plan", "referred", "emergency_services", "false_alarm", "worker_left",
            "other")

# Answers of the pre-chat screen: PHQ-2 items 1 and 2, and PHQ-9 item 9 (self-harm).
SCREEN_ITEMS = ("phq2_1", "phq2_2", "phq9_9")


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Source(StrEnum):
    MESSAGE = "message"
    FLAG = "flag"
    SCREEN = "screen"


@dataclass(frozen=True, slots=True)
class Deadlines:
    normal_s: int
    imminent_s: int

    def for_level(self, level: RiskLevel, opened_at: dt.datetime) -> dt.datetime:
        seconds = self.imminent_s if level >= RiskLevel.imminent else self.normal_s
        return opened_at + dt.timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Raise:
    """What a new signal does to an open escalation."""

    level: RiskLevel
    raised: bool
    ack_deadline: dt.datetime
    reasons: tuple[str, ...]


def opens(level: RiskLevel) -> bool:
    return level >= OPENS_AT


def raise_level(
    current: RiskLevel, new: RiskLevel, status: Status, ack_deadline: dt.datetime,
    reasons: tuple[str, ...], new_reasons: tuple[str, ...], deadlines: Deadlines,
    now: dt.datetime,
) -> Raise:
    """Signals only ever raise the level; a human (set_level) is the only way down.

    Raised to imminent while nobody has acknowledged: the deadline shortens to the
    imminent one counted from now, unless the old one is sooner.
    """
    level = max(current, new)
    raised = level > current
    deadline = ack_deadline
    if raised and status is Status.OPEN and level >= RiskLevel.imminent:
        deadline = min(ack_deadline, deadlines.for_level(level, now))
    merged = tuple(dict.fromkeys((*reasons, *new_reasons)))
    return Raise(level, raised, deadline, merged)


def set_level_deadline(
    level: RiskLevel, status: Status, ack_deadline: dt.datetime, deadlines: Deadlines,
    now: dt.datetime,
) -> dt.datetime:
    """A supervisor's new level keeps the deadline unless imminent makes it sooner."""
    if status is Status.OPEN and level >= RiskLevel.imminent:
        return min(ack_deadline, deadlines.for_level(level, now))
    return ack_deadline


def overdue(status: Status, ack_deadline: dt.datetime, realerted: bool, now: dt.datetime) -> bool:
    """The sweeper's condition (the SQL says the same): open, past due, not yet re-alerted."""
    return status is Status.OPEN and ack_deadline < now and not realerted


@dataclass(frozen=True, slots=True)
class Audience:
    """Who hears of an escalation change: role channels, plus the counselor's badge."""

    roles: tuple[str, ...]
    no_supervisor: bool


def audience(supervisors_connected: bool, realert: bool = False) -> Audience:
    """Supervisors first; with none connected, or on a missed deadline, every counselor too."""
    if realert:
        return Audience(("supervisor", "counselor"), not supervisors_connected)
    if supervisors_connected:
        return Audience(("supervisor",), False)
    return Audience(("counselor",), True)


@dataclass(frozen=True, slots=True)
class Screen:
    phq2_1: int
    phq2_2: int
    phq9_9: int

    @property
    def phq2(self) -> int:
        return self.phq2_1 + self.phq2_2

    @property
    def self_harm(self) -> bool:
        """Any answer above 0 on PHQ-9 item 9 means thoughts of self-harm: crisis band."""
        return self.phq9_9 > 0


def parse_screen(answers: object) -> Screen:
    """ValueError naming the item when an answer is missing or not 0–3."""
    if not isinstance(answers, dict):
        raise ValueError("answers")
    values = []
    for item in SCREEN_ITEMS:
        value = answers.get(item)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3:
            raise ValueError(item)
        values.append(value)
    return Screen(*values)
