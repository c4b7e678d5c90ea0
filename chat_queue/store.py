"""The waiting queue and counselor seats in Redis: a thin pump around chat_queue.matching.

Redis is not the record. PostgreSQL holds every conversation and who serves it; Redis
holds what must be decided atomically across app nodes (who is next, who takes them) and
can be rebuilt from PostgreSQL with rebuild() whenever epoch() returns None.

Limits, and what happens at each (keys and their TTLs are listed in chat_queue.keys):

- Worker presence: a key whose value is the node ms of the waiting worker's last sign
  of life (enqueue, touch_worker), TTL the place-keeping time (the server passes
  `worker_keep_s`, 10 minutes by default). The matcher serves a worker seen within
  `grace_ms`; one seen longer ago is stepped over (the place is kept, the next worker is
  served) until `keep_ms` has passed, then the entry is dropped as abandoned when the
  matcher reaches it. Entries behind the one served are not swept, so positions may
  count a few departed workers.
- Workers away from an active conversation: a sorted set of when each was first told
  away (node ms); the server ends the conversation after the place-keeping time.
- Counselor presence: TTL `ttl_s` (DEFAULT_COUNSELOR_TTL_S = 15 s, heartbeat). Once it
  expires the matcher skips the counselor and removes them from the available set; they
  stay on duty (present=False on the board) until a heartbeat revives the seat or the
  server calls counselor_off_duty.
- Claim of a match: TTL `claim_ttl_s` (default 60 s). While it lives the conversation
  cannot be queued again (no worker goes to two counselors), unclaim() can undo the match
  and reconcile_load() counts it. The server must record the match in PostgreSQL, or call
  unclaim(), within that time; after it unclaim() does nothing.
- Abandoned entries dropped per match call: `max_abandoned` (default 100), which bounds
  the time one script holds Redis. match_all() keeps calling while there are more. The
  same bound applies to entries stepped over (workers away within the keeping time): with
  more than that many away at the head of the queue, nobody behind them is matched until
  some return or lose their place.
- Recent waits: the newest keys.RECENT_WAITS_CAP (200) are kept.
- Scores are exact doubles: enqueued_ms and idle_since_ms below 10**13 (year 2286), load
  and capacity at most matching.MAX_LOAD (899). Larger values raise QueueError.
- One Redis primary: scripts build presence and claim keys from prefixes, so the keys of
  the queue are not to be spread over a cluster.

Loads are counters. The server must call release() exactly once per ended conversation
and unclaim() only for a match it did not record; reconcile_load() corrects drift.
Works with clients built with decode_responses either True or False.
"""

from __future__ import annotations

from chat_queue.claims import Claims, MatchBatch, MatchOutcome, MatchResult, Unclaimed
from chat_queue.recovery import Recovery
from chat_queue.seats import Seats, SeatState
from chat_queue.waiting import WaitingLine

__all__ = ["MatchBatch", "MatchOutcome", "MatchResult", "QueueStore", "SeatState", "Unclaimed"]


class QueueStore(WaitingLine, Seats, Claims, Recovery):
    """The whole store: one Redis client and its scripts, shared by every part."""
