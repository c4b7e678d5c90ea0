"""The per-connection feed: events in, actions out, no I/O (chat_server/wire/feed.py)."""

from __future__ import annotations

import random

import pytest

from chat_server.wire.feed import Emit, Feed, Fetch

C = "conv-1"


def msg(seq: int) -> str:
    return f"m{seq}"


def page(seqs: range | list[int]) -> list[tuple[int, str]]:
    return [(s, msg(s)) for s in seqs]


def welcomed(page_size: int = 200) -> Feed:
    feed = Feed(page_size)
    assert feed.welcome() == []
    return feed


def test_live_in_order_is_sent_at_once() -> None:
    feed = welcomed()
    assert feed.follow(C, 0) == [Fetch(C, 0)]
    assert feed.page(C, 0, []) == []
    assert feed.live(C, 1, msg(1)) == [Emit(msg(1))]
    assert feed.live(C, 2, msg(2)) == [Emit(msg(2))]
    assert feed.live(C, 2, msg(2)) == []  # a repeat is dropped


def test_a_gap_is_filled_from_the_record_and_live_waits_meanwhile() -> None:
    feed = welcomed()
    feed.follow(C, 0)
    feed.page(C, 0, [])
    assert feed.live(C, 2, msg(2)) == [Fetch(C, 0)]
    assert feed.live(C, 1, msg(1)) == []  # noted, not sent: the read is out
    assert feed.live(C, 3, msg(3)) == []
    # The read saw 1..2 only; 3 was heard, so the feed reads again from 2.
    assert feed.page(C, 0, page(range(1, 3))) == [Emit(msg(1)), Emit(msg(2)), Fetch(C, 2)]
    assert feed.page(C, 2, page([3])) == [Emit(msg(3))]
    assert feed.live(C, 4, msg(4)) == [Emit(msg(4))]


def test_held_until_sync_then_served_from_the_resume_point() -> None:
    feed = Feed(200)
    assert feed.follow(C, 9, held=True) == []  # open at connect: held
    assert feed.welcome() == []
    assert feed.live(C, 10, msg(10)) == []
    assert feed.live(C, 11, msg(11)) == []
    assert feed.sync(C, 7, "r1") == [Fetch(C, 7)]
    assert feed.live(C, 12, msg(12)) == []
    assert feed.page(C, 7, page(range(8, 12))) == [
        Emit(msg(8)), Emit(msg(9)), Emit(msg(10)), Emit(msg(11)), Fetch(C, 11)]
    assert feed.page(C, 11, page([12])) == [
        Emit(msg(12)), Emit({"type": "synced", "conversation_id": C, "last_seq": 12, "ref": "r1"})]
    assert feed.live(C, 13, msg(13)) == [Emit(msg(13))]


def test_nothing_is_sent_before_the_welcome() -> None:
    feed = Feed(200)
    assert feed.follow(C, 0) == []
    assert feed.live(C, 1, msg(1)) == []
    assert feed.welcome() == [Fetch(C, 0)]
    assert feed.page(C, 0, page([1])) == [Emit(msg(1))]


def test_a_sync_during_a_read_restarts_from_its_own_point() -> None:
    feed = welcomed()
    feed.follow(C, 5)
    assert feed.sync(C, 5, None) == []  # the follow's read is out already
    assert feed.sync(C, 2, "again") == []
    # The read out began at 5, above the moved cursor: its messages do not fit; read again.
    assert feed.page(C, 5, page([6])) == [Fetch(C, 2)]
    assert feed.page(C, 2, page(range(3, 7))) == [
        Emit(msg(3)), Emit(msg(4)), Emit(msg(5)), Emit(msg(6)),
        Emit({"type": "synced", "conversation_id": C, "last_seq": 6}),
        Emit({"type": "synced", "conversation_id": C, "last_seq": 6, "ref": "again"})]


def test_a_full_page_means_read_on() -> None:
    feed = welcomed(page_size=2)
    feed.follow(C, 0, held=True)
    assert feed.sync(C, 0) == [Fetch(C, 0)]
    assert feed.page(C, 0, page([1, 2])) == [Emit(msg(1)), Emit(msg(2)), Fetch(C, 2)]
    assert feed.page(C, 2, page([3])) == [
        Emit(msg(3)), Emit({"type": "synced", "conversation_id": C, "last_seq": 3})]


def test_lost_live_events_are_read_back() -> None:
    feed = welcomed()
    feed.follow(C, 3)
    feed.page(C, 3, [])
    assert feed.lost() == [Fetch(C, 3)]
    assert feed.nudge(C, 5) == []  # already reading
    assert feed.page(C, 3, page([4])) == [Emit(msg(4)), Fetch(C, 4)]
    assert feed.page(C, 4, page([5])) == [Emit(msg(5))]


def test_a_failed_read_is_retried_from_the_cursor() -> None:
    feed = welcomed()
    feed.follow(C, 0)
    feed.failed(C)
    assert feed.retry(C) == [Fetch(C, 0)]


def test_unfollowed_conversations_are_silent() -> None:
    feed = welcomed()
    feed.follow(C, 0)
    feed.unfollow(C)
    assert feed.live(C, 1, msg(1)) == []
    assert feed.page(C, 0, page([1])) == []


# ---- randomized: every interleaving keeps the promise --------------------------------


def run_schedule(rng: random.Random, page_size: int) -> None:
    """Messages get stored while live events arrive late, twice, out of order or never,
    reads take a while, and the client syncs at random points (as after a reconnect).
    After every sync, the frames form one run resume+1, resume+2, ... with no gap or
    repeat, and once quiet the run reaches the last stored seq."""
    feed = Feed(page_size)
    stored = 0
    start = rng.randrange(0, 4)
    stored = start
    feed.follow(C, start, held=rng.random() < 0.5)
    held = feed.streams[C].held
    expected_next: int | None = None if held else start + 1
    in_flight: list[tuple[int, str]] = []  # live events on their way
    reads: list[tuple[int, int]] = []  # (after_seq, stored when read) on their way
    out: list[object] = []

    def apply(actions: list[object]) -> None:
        nonlocal expected_next
        for action in actions:
            if isinstance(action, Fetch):
                reads.append((action.after_seq, -1))
            else:
                assert isinstance(action, Emit)
                frame = action.frame
                if isinstance(frame, dict):
                    continue  # synced
                seq = int(frame[1:])
                assert expected_next is not None, "sent while held"
                assert seq == expected_next, (seq, expected_next)
                expected_next = seq + 1
                out.append(seq)

    apply(feed.welcome())
    for _ in range(rng.randrange(20, 80)):
        roll = rng.random()
        if roll < 0.3:
            stored += 1
            if rng.random() > 0.1:  # one in ten live events is lost
                in_flight.append((stored, msg(stored)))
                if rng.random() < 0.1:
                    in_flight.append((stored, msg(stored)))  # and some arrive twice
        elif roll < 0.55 and in_flight:
            seq, frame = in_flight.pop(rng.randrange(len(in_flight)) if rng.random() < 0.2 else 0)
            apply(feed.live(C, seq, frame))
        elif roll < 0.65 and reads:
            # A read is taken now (what is stored now) and answered later.
            i = rng.randrange(len(reads))
            after, at = reads[i]
            if at < 0:
                reads[i] = (after, stored)
        elif roll < 0.8 and reads and reads[0][1] >= 0:
            after, at = reads.pop(0)
            apply(feed.page(C, after, page(range(after + 1, min(at, after + page_size) + 1))))
        elif roll < 0.85:
            resume = rng.randrange(0, stored + 1)
            expected_next = resume + 1
            apply(feed.sync(C, resume))
        elif roll < 0.88:
            apply(feed.lost())
    # Quiet: everything arrives, reads are answered.
    for seq, frame in in_flight:
        apply(feed.live(C, seq, frame))
    if feed.streams[C].held:
        expected_next = stored + 1 - rng.randrange(0, stored + 1) if stored else 1
        apply(feed.sync(C, expected_next - 1))
    while reads:
        after, _ = reads.pop(0)
        apply(feed.page(C, after, page(range(after + 1, min(stored, after + page_size) + 1))))
    apply(feed.nudge(C, stored))
    while reads:
        after, _ = reads.pop(0)
        apply(feed.page(C, after, page(range(after + 1, min(stored, after + page_size) + 1))))
    assert feed.streams[C].cursor == stored
    assert expected_next == stored + 1


@pytest.mark.parametrize("seed", range(400))
def test_random_schedules_are_exactly_once_in_order(seed: int) -> None:
    rng = random.Random(seed)
    run_schedule(rng, page_size=rng.choice([1, 2, 3, 200]))
