"""Every Redis key of the queue, with its TTL or the reason it has none.

Scripts touch keys built from the prefixes below, so the queue needs one Redis primary
(or a cluster slot for everything under `yz:`); it is not sharded.
"""

from __future__ import annotations

PREFIX = "yz:"

# Sorted set, member conversation_id, score matching.queue_score. No TTL: members leave by
# match, leave() or abandonment, and the whole set can be rebuilt from PostgreSQL.
QUEUE = PREFIX + "queue"

# + conversation_id: node ms of the waiting worker's last sign of life ("1": unknown).
# TTL = the place-keeping time (worker_keep_s), refreshed by touch_worker; left to expire
# after a match (unclaim reads it). The matcher compares the value with its own now.
WORKER_PRESENCE = PREFIX + "wp:"

# + conversation_id: hash {staff, score, at} of a match not yet recorded in PostgreSQL.
# TTL = claim_ttl_s: long enough for the server to record it; after that a reconciler
# trusts PostgreSQL alone. Blocks re-enqueueing the conversation while it lives.
CLAIM = PREFIX + "claim:"

# + staff_id: set of conversation ids this counselor was matched with recently (members
# may point at expired claims; scripts skip those). TTL = claim_ttl_s, renewed per match,
# so it vanishes once all its claims have.
CLAIMS_OF = PREFIX + "claims:"

# Hash staff_id -> count of changes to what makes up the counselor's load (a match, its
# confirmation, a release, an undone match, coming on duty). The reconciler applies a
# load computed from PostgreSQL only if the count has not moved since before its read.
SEAT_CHANGES = PREFIX + "seat_changes"

# Sorted set, member staff_id, score matching.counselor_score, of counselors who can take
# a conversation now (on duty, present, not draining, load < capacity). No TTL: scripts
# keep it in step with the hashes below, and the matcher drops members whose presence died.
AVAILABLE = PREFIX + "available"

# + staff_id: "1" while the counselor's heartbeat arrives. TTL = ttl_s (default 15 s).
COUNSELOR_PRESENCE = PREFIX + "cp:"

# Hash staff_id -> capacity. Being a field here is being on duty. No TTL: removed by
# counselor_off_duty; a counselor whose presence expired stays listed (present=False).
CAPACITY = PREFIX + "capacity"

# Hash staff_id -> conversations in progress. No TTL: it must outlive a shift's end while
# conversations finish; a field is deleted when it reaches 0 off duty.
LOAD = PREFIX + "load"

# Hash staff_id -> idle_since_ms (tie-break among equally loaded counselors). No TTL:
# deleted together with the LOAD field.
IDLE_SINCE = PREFIX + "idle_since"

# Set of staff ids draining. No TTL: cleared on duty change or set_draining(False).
DRAINING = PREFIX + "draining"

# List of recent waits in seconds, newest first. No TTL: LTRIM caps it at RECENT_WAITS_CAP.
RECENT_WAITS = PREFIX + "recent_waits"
RECENT_WAITS_CAP = 200

# Token written when the queue was (re)built from PostgreSQL. No TTL: its absence is the
# signal that Redis lost its data and the server must call rebuild().
EPOCH = PREFIX + "epoch"


# + scope (a hashed PIN target, source address or staff name): hash {n, until} of recent
# failed guesses and the epoch ms before which the next try is slowed. TTL = a day from
# the last failure (chat_server/accounts/throttle.py), so old failures are forgotten.
SLOW = PREFIX + "slow:"

# + scope: a counter of requests in the current fixed window. TTL = the window.
RATE = PREFIX + "rl:"

# Sorted set, member conversation_id of an active conversation, score = ms until which
# the worker's socket is known to be alive (renewed by the heartbeat of the node holding
# it). No TTL: the sweep removes expired members, and the node that removes one is the
# one that tells the counselor `worker_away` (a node that died cannot).
WORKER_LINKS = PREFIX + "worker_links"

# + conversation_id: "1" once `worker_away` was told, so `worker_back` follows only an
# `worker_away`. TTL = WORKER_AWAY_TTL_S, longer than any conversation waits for a worker.
WORKER_AWAY = PREFIX + "wa:"
WORKER_AWAY_TTL_S = 86_400


# Sorted set, member conversation_id of an active conversation, score = node ms when its
# worker was first told away. No TTL: members leave when the worker returns or the
# conversation ends (the server ends it after the place-keeping time, releasing the seat).
WORKERS_AWAY = PREFIX + "workers_away"


def worker_away(conversation_id: str) -> str:
    return WORKER_AWAY + conversation_id


def worker_presence(conversation_id: str) -> str:
    return WORKER_PRESENCE + conversation_id


def claim(conversation_id: str) -> str:
    return CLAIM + conversation_id


def claims_of(staff_id: str) -> str:
    return CLAIMS_OF + staff_id


def counselor_presence(staff_id: str) -> str:
    return COUNSELOR_PRESENCE + staff_id


def rate(scope: str) -> str:
    """The fixed-window counter of one rate-limit scope (see RATE)."""
    return RATE + scope


def signin_rate_scope(client_ip: str) -> str:
    """The scope of worker sign-ins from one address (chat_server/chat/routes.py)."""
    return f"signin:{client_ip}"


def staff_signin_rate_scope(client_ip: str) -> str:
    """The scope of staff sign-ins from one address."""
    return f"staff:{client_ip}"


# + staff_id: a counter of wrong second-factor codes. TTL = the window it counts
# (accounts/second_factor.py, TOTP_WINDOW_S), set with the first failure.
TOTP_TRIES = RATE + "totp:"


def totp_tries(staff_id: str) -> str:
    return TOTP_TRIES + staff_id


# ---- pub/sub channels (chat_server/chat/hub.py) ------------------------------------------
# Channels are not keys: they hold nothing and need no TTL. A node subscribes to one while
# a local socket listens on it.
CHANNEL = PREFIX + "ch:"


def conversation_channel(conversation_id: str) -> str:
    """Everyone following one conversation."""
    return f"{CHANNEL}c:{conversation_id}"


def user_channel(principal_id: str) -> str:
    """Every socket of one account (staff) or worker."""
    return f"{CHANNEL}u:{principal_id}"


def session_channel(token_hash: bytes) -> str:
    """One worker session's sockets (sign-out closes them)."""
    return f"{CHANNEL}s:{token_hash.hex()[:32]}"


def device_channel(device_hash: bytes) -> str:
    """The worker sockets holding one device credential: who may read what it opened."""
    return f"{CHANNEL}d:{device_hash.hex()[:32]}"


def role_channel(role: str) -> str:
    """Every socket of one role (escalations to supervisors or counselors)."""
    return f"{CHANNEL}r:{role}"


def node_channel(node_id: str) -> str:
    """A node's private channel: keeps its subscriber subscribed with no listeners."""
    return f"{CHANNEL}node:{node_id}"
