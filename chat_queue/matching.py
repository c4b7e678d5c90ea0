"""The matching rules, pure: no Redis, no clock. The Lua scripts implement exactly these.

Order of the waiting queue: crisis band first, then first come first served, then
conversation id (the tie-break a Redis sorted set applies to equal scores).
Order of counselors: least loaded first, then longest idle (earliest `idle_since_ms`),
then staff id. A counselor who is draining or at capacity is never chosen.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from chat_queue.errors import QueueError

# Scores pack (rank, milliseconds) into one double. 10**13 ms is the year 2286, and every
# score stays below 2**53, so each is an exact integer in a double (and in Lua's numbers).
BAND_WEIGHT = 10**13
LOAD_WEIGHT = 10**13
MAX_LOAD = 2**53 // LOAD_WEIGHT - 1  # 899: far above any real capacity

# estimate_wait_s bounds (seconds); see its docstring.
FALLBACK_WAIT_S = 300.0  # assumed typical wait before any wait has been recorded
MIN_ESTIMATE_S = 60  # with no free seat, never promise "any moment now"
MAX_ESTIMATE_S = 2 * 3600  # beyond this an estimate is noise; the UI says "over 2 hours"


class Band(IntEnum):
    CRISIS = 0
    NORMAL = 1


def _check_ms(name: str, ms: int) -> None:
    if not 0 <= ms < BAND_WEIGHT:
        raise QueueError(f"{name} out of range: {ms}")


def queue_score(band: Band, enqueued_ms: int) -> float:
    """Lower is served first: the band, then the time of joining."""
    _check_ms("enqueued_ms", enqueued_ms)
    return float(int(Band(band)) * BAND_WEIGHT + enqueued_ms)


def split_queue_score(score: float) -> tuple[Band, int]:
    """Inverse of queue_score: (band, enqueued_ms)."""
    band, enqueued_ms = divmod(int(score), BAND_WEIGHT)
    return Band(band), enqueued_ms


def counselor_score(load: int, idle_since_ms: int) -> float:
    """Lower is chosen first: the load, then how long the counselor has been idle."""
    if not 0 <= load <= MAX_LOAD:
        raise QueueError(f"load out of range: {load}")
    _check_ms("idle_since_ms", idle_since_ms)
    return float(load * LOAD_WEIGHT + idle_since_ms)


@dataclass(frozen=True, slots=True)
class Waiting:
    conversation_id: str
    band: Band
    enqueued_ms: int


@dataclass(frozen=True, slots=True)
class Seat:
    """A counselor on duty, as the matcher sees them."""

    staff_id: str
    load: int
    capacity: int
    idle_since_ms: int  # when the load last went down, or when the shift began
    draining: bool = False  # finishing current conversations, taking no new one

    @property
    def open(self) -> bool:
        return not self.draining and self.load < self.capacity


def next_match(waiting: Sequence[Waiting], seats: Sequence[Seat]) -> tuple[Waiting, Seat] | None:
    """The head of the queue and the counselor it goes to, or None if either is missing."""
    if not waiting:
        return None
    open_seats = [s for s in seats if s.open]
    if not open_seats:
        return None
    head = min(waiting, key=lambda w: (queue_score(w.band, w.enqueued_ms), w.conversation_id))
    best = min(open_seats, key=lambda s: (counselor_score(s.load, s.idle_since_ms), s.staff_id))
    return head, best


def estimate_wait_s(
    position: int,
    recent_waits_s: Sequence[float],
    counselors_on_duty: int,
    capacity_free: int,
) -> int | None:
    """Estimated seconds until a worker at 1-based `position` is matched.

    - No counselor on duty: None (the UI says so and shows the hotlines; no made-up number).
    - A free seat for this position (`position <= capacity_free`): 0.
    - Otherwise `M * position / counselors_on_duty`, where M is the median of recent
      waits (FALLBACK_WAIT_S if none): recently a typical worker waited M, and places
      ahead of you are shared out among the counselors. Rounded up to whole minutes and
      kept within [MIN_ESTIMATE_S, MAX_ESTIMATE_S].
    """
    if position < 1:
        raise QueueError(f"position must be 1-based: {position}")
    if counselors_on_duty <= 0:
        return None
    if position <= capacity_free:
        return 0
    typical = statistics.median(recent_waits_s) if recent_waits_s else FALLBACK_WAIT_S
    raw = max(0.0, typical) * position / counselors_on_duty
    minutes = math.ceil(raw / 60)
    return max(MIN_ESTIMATE_S, min(MAX_ESTIMATE_S, minutes * 60))
