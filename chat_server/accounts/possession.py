"""Who may read a worker's self-service rows: the one predicate, to re-point in one place.

An ID number is not a secret (docs/SECURITY.md): a row belongs to the possession factors of
the session that created it — that session itself, and its own device credential, which a
later sign-in from the same browser (or one a PIN opened) holds again. The same rule as
`conversations.may_read` for conversations. Every read of assessments, bookings and
open-day sign-ups asks here; the worker id is always checked in SQL beside it.
"""

from __future__ import annotations

from chat_server.accounts.sessions import Principal
from chat_server.wire.protocol import Role


def own_device(p: Principal) -> bytes | None:
    """The session's own device credential (first of its devices), recorded on new rows."""
    return p.devices[0] if p.devices else None


def may_read(p: Principal, owner_session: bytes | None, owner_device: bytes | None) -> bool:
    if p.role is not Role.WORKER:
        return False
    if owner_session is not None and bytes(owner_session) == p.token_hash:
        return True
    return owner_device is not None and bytes(owner_device) in p.devices
