"""The pure matching rules: ordering, eligibility, scores, wait estimates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_queue.errors import QueueError
from chat_queue.matching import (
    BAND_WEIGHT,
    FALLBACK_WAIT_S,
    MAX_ESTIMATE_S,
    MAX_LOAD,
    MIN_ESTIMATE_S,
    Band,
    Seat,
    Waiting,
    counselor_score,
    estimate_wait_s,
    next_match,
    queue_score,
    split_queue_score,
)

NOW = 1_760_000_000_000  # a realistic epoch-milliseconds value (2025)


def seat(
    staff_id: str, load: int = 0, capacity: int = 2, idle: int = NOW, draining: bool = False
) -> Seat:
    return Seat(staff_id, load, capacity, idle, draining)


def test_crisis_band_goes_first_even_when_it_came_later() -> None:
    early = Waiting("early", Band.NORMAL, NOW)
    crisis = Waiting("crisis", Band.CRISIS, NOW + 3_600_000)
    assert next_match([early, crisis], [seat("a")]) == (crisis, seat("a"))


def test_first_come_first_served_within_a_band() -> None:
    waiting = [Waiting(f"c{i}", Band.NORMAL, NOW + 10 - i) for i in range(5)]
    match = next_match(waiting, [seat("a")])
    assert match is not None and match[0].conversation_id == "c4"


def test_least_loaded_then_longest_idle() -> None:
    w = [Waiting("w", Band.NORMAL, NOW)]
    busy_but_idle_longest = seat("a", load=1, idle=NOW - 10_000)
    free_recent = seat("b", load=0, idle=NOW - 10)
    free_longest = seat("c", load=0, idle=NOW - 20)
    match = next_match(w, [busy_but_idle_longest, free_recent, free_longest])
    assert match is not None and match[1].staff_id == "c"


def test_draining_and_full_counselors_are_never_chosen() -> None:
    w = [Waiting("w", Band.CRISIS, NOW)]
    assert next_match(w, [seat("a", draining=True), seat("b", load=2, capacity=2)]) is None
    assert next_match(w, [seat("z", capacity=0)]) is None
    assert next_match([], [seat("a")]) is None


def test_exact_ties_break_by_id_like_a_redis_sorted_set() -> None:
    w = [Waiting("b", Band.NORMAL, NOW), Waiting("a", Band.NORMAL, NOW)]
    match = next_match(w, [seat("y"), seat("x")])
    assert match is not None
    assert (match[0].conversation_id, match[1].staff_id) == ("a", "x")


ms = st.integers(min_value=0, max_value=BAND_WEIGHT - 1)
waitings = st.lists(
    st.builds(Waiting, st.text(min_size=1, max_size=4), st.sampled_from(Band), ms),
    max_size=8,
    unique_by=lambda w: w.conversation_id,
)
seats = st.lists(
    st.builds(
        Seat,
        st.text(min_size=1, max_size=4),
        st.integers(0, 5),
        st.integers(0, 5),
        ms,
        st.booleans(),
    ),
    max_size=8,
    unique_by=lambda s: s.staff_id,
)


@given(waitings, seats)
def test_next_match_is_the_head_and_the_best_open_seat(
    waiting: list[Waiting], seat_list: list[Seat]
) -> None:
    match = next_match(waiting, seat_list)
    open_seats = [s for s in seat_list if not s.draining and s.load < s.capacity]
    if not waiting or not open_seats:
        assert match is None
        return
    assert match is not None
    head, chosen = match
    assert chosen.load < chosen.capacity and not chosen.draining
    for w in waiting:
        assert (head.band, head.enqueued_ms, head.conversation_id) <= (
            w.band,
            w.enqueued_ms,
            w.conversation_id,
        )
    for s in open_seats:
        assert (chosen.load, chosen.idle_since_ms, chosen.staff_id) <= (
            s.load,
            s.idle_since_ms,
            s.staff_id,
        )


@given(st.sampled_from(Band), ms)
def test_queue_scores_are_exact_and_reversible(band: Band, enqueued_ms: int) -> None:
    score = queue_score(band, enqueued_ms)
    assert score == int(score) < 2**53
    assert split_queue_score(score) == (band, enqueued_ms)


@given(st.integers(0, MAX_LOAD), ms)
def test_counselor_scores_are_exact(load: int, idle_ms: int) -> None:
    score = counselor_score(load, idle_ms)
    assert score == int(score) == load * 10**13 + idle_ms


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(QueueError):
        queue_score(Band.NORMAL, -1)
    with pytest.raises(QueueError):
        queue_score(Band.NORMAL, BAND_WEIGHT)
    with pytest.raises(QueueError):
        counselor_score(MAX_LOAD + 1, NOW)
    with pytest.raises(QueueError):
        estimate_wait_s(0, [], 1, 0)


def test_estimate_is_none_when_nobody_is_on_duty() -> None:
    assert estimate_wait_s(1, [60.0], counselors_on_duty=0, capacity_free=0) is None
    assert estimate_wait_s(1, [60.0], counselors_on_duty=0, capacity_free=5) is None


def test_estimate_is_zero_with_a_free_seat_for_this_place() -> None:
    assert estimate_wait_s(1, [600.0], counselors_on_duty=2, capacity_free=1) == 0
    assert estimate_wait_s(3, [600.0], counselors_on_duty=2, capacity_free=3) == 0
    assert estimate_wait_s(4, [600.0], counselors_on_duty=2, capacity_free=3) == 1200


def test_estimate_scales_the_median_by_place_and_counselors() -> None:
    # median 300 s, third place, 2 counselors: 450 s -> rounded up to 480 s (8 minutes).
    assert estimate_wait_s(3, [100.0, 300.0, 900.0], 2, 0) == 480
    assert estimate_wait_s(1, [], 1, 0) == FALLBACK_WAIT_S


def test_estimate_bounds() -> None:
    assert estimate_wait_s(1, [1.0], 10, 0) == MIN_ESTIMATE_S
    assert estimate_wait_s(1, [0.0, 0.0], 1, 0) == MIN_ESTIMATE_S
    assert estimate_wait_s(500, [600.0], 1, 0) == MAX_ESTIMATE_S


@given(
    st.integers(1, 1000),
    st.lists(st.floats(0, 10_000), max_size=20),
    st.integers(1, 50),
    st.integers(0, 50),
)
def test_estimate_is_bounded_and_monotone_in_position(
    position: int, waits: list[float], on_duty: int, free: int
) -> None:
    here = estimate_wait_s(position, waits, on_duty, free)
    behind = estimate_wait_s(position + 1, waits, on_duty, free)
    assert here is not None and behind is not None
    assert 0 <= here <= behind <= MAX_ESTIMATE_S
