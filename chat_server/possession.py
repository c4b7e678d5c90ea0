"""Who may read a worker's self-service rows: the one predicate, to re-point in one place.

An ID number is not a secret (docs/SECURITY.md): a row belongs to the session that created
it, and to any session of the same worker that proved a possession factor (the earlier
device, or the PIN). Every read of assessments, bookings and open-day sign-ups asks here.
"""

from __future__ import annotations

from chat_server.sessions import Principal


def may_read(principal: Principal, owner_session: bytes) -> bool:
    """True if this session holds the possession factor of a row created by `owner_session`
    (the worker id is always checked in SQL beside it)."""
    return principal.history_access or bytes(owner_session) == principal.token_hash

