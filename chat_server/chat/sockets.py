"""The sockets open on this node, by principal: who is here, drained on a stop."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator

from chat_server.chat.connection import Connection
from chat_server.wire.protocol import CloseCode

# Longest a drain waits for one socket's frames in flight (a send retries its commit for
# up to ~7 s while PostgreSQL restarts; see commands.STORE_RETRY_S).
DRAIN_TIMEOUT_S = 10.0


class Sockets:
    def __init__(self) -> None:
        # Every open socket of this node, by principal id (a principal may have several).
        self.by_principal: dict[str, set[Connection]] = defaultdict(set)
        # Set when the node is stopped on purpose: /readyz answers 503, upgrades are refused.
        self.draining = False

    def add(self, conn: Connection) -> None:
        self.by_principal[conn.principal.id].add(conn)

    def remove(self, conn: Connection) -> None:
        pid = conn.principal.id
        self.by_principal[pid].discard(conn)
        if not self.by_principal[pid]:
            del self.by_principal[pid]

    def local(self, principal_id: str) -> set[Connection]:
        return self.by_principal.get(principal_id, set())

    def __iter__(self) -> Iterator[Connection]:
        for conns in self.by_principal.values():
            yield from conns

    def count(self, role: str) -> int:
        return sum(1 for conn in self if str(conn.role) == role)

    def stop_taking(self) -> None:
        """From now on /readyz answers 503 and upgrades are refused (safe in a signal
        handler: it only sets a flag)."""
        self.draining = True

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stop taking sockets, answer the frames in flight, close every socket with 1012."""
        self.stop_taking()
        await asyncio.gather(*(conn.drain(CloseCode.SERVICE_RESTART, timeout_s)
                               for conn in list(self)), return_exceptions=True)

    def close_all(self, code: int) -> None:
        for conn in list(self):
            conn.close(code)
