"""The report's small-count rule and the booking status rule, without I/O."""

from __future__ import annotations

import datetime as dt

from chat_server.selfservice.booking import effective_status
from chat_server.selfservice.reports import average, count, rate

T = dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)


def test_counts_under_five_are_suppressed_and_so_is_what_they_reveal() -> None:
    assert [count(n) for n in (0, 1, 4, 5, 17)] == ["<5", "<5", "<5", 5, 17]
    assert average(16, 4) == "<5" and average(21, 5) == 4.2
    assert rate(4, 10) == "<5" and rate(5, 10) == 0.5 and rate(5, 0) == "<5"


def test_a_booking_left_booked_after_its_slot_is_a_no_show() -> None:
    later = T + dt.timedelta(minutes=1)
    assert effective_status("booked", T, later) == "no_show"
    assert effective_status("booked", later, T) == "booked"
    assert effective_status("booked", T, T) == "no_show"
    for status in ("cancelled", "attended", "no_show"):
        assert effective_status(status, T, later) == status
