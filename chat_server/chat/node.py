"""What one app node holds while it runs: stores, the hub, local sockets, feature hooks."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chat_queue.store import QueueStore
from chat_server.accounts.sessions import SessionStore
from chat_server.chat.hub import Hub
from chat_server.chat.store import Appended, Conversation, ConversationStore
from chat_server.chat.writer import MessageWriter
from chat_server.clock import Clock, NodeClock
from chat_server.config import Settings
from chat_server.roster.hours import Hours
from chat_server.services import Services
from chat_server.wire.protocol import Command
from crypto.envelope import Vault

if TYPE_CHECKING:
    from chat_server.chat.dispatch import Dispatcher
    from chat_server.chat.endpoint import Connection

# Longest a drain waits for one socket's frames in flight (a send retries its commit for
# up to ~7 s while PostgreSQL restarts; see endpoint.STORE_RETRY_S).
DRAIN_TIMEOUT_S = 10.0

# Features (crisis, shifts) extend the node through these hooks instead of editing the
# endpoint: handlers for their own frame types, and observers of stored messages.
CommandHandler = Callable[["Connection", Command], Awaitable[None]]
MessageHook = Callable[["Connection", Conversation, Appended, str, Any], Awaitable[None]]
# Assesses a worker's message before it is stored, so the result is stored with it.
Assessor = Callable[[str], Any]
DutyGuard = Callable[[str, dt.datetime], Awaitable[str | None]]


@dataclass
class Node:
    services: Services
    vault: Vault
    sessions: SessionStore
    conversations: ConversationStore
    queue: QueueStore
    hub: Hub
    hours: Hours
    writer: MessageWriter = field(init=False)
    dispatcher: Dispatcher | None = None
    handlers: dict[type[Command], CommandHandler] = field(default_factory=dict)
    message_hooks: list[MessageHook] = field(default_factory=list)
    assessor: Assessor | None = None
    # Returns an error message if this counselor may not go on duty now (roster rules).
    duty_guards: list[DutyGuard] = field(default_factory=list)
    # Extra fields for the staff welcome frame, by feature.
    welcome_extras: list[Callable[[Connection], Awaitable[dict[str, Any]]]] = field(
        default_factory=list
    )
    connections: dict[str, set[Connection]] = field(default_factory=lambda: defaultdict(set))
    # Shared with the stores, so pinning it pins every time the node writes or compares.
    time: NodeClock = field(default_factory=NodeClock)
    # Set when the node is stopped on purpose: /readyz answers 503, upgrades are refused.
    draining: bool = False

    def __post_init__(self) -> None:
        self.writer = MessageWriter(self.conversations)

    @property
    def clock(self) -> Clock:
        return self.time.source

    @clock.setter
    def clock(self, source: Clock) -> None:
        self.time.source = source

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def now(self) -> dt.datetime:
        return self.time()

    def now_ms(self) -> int:
        return int(self.time().timestamp() * 1000)

    def stop_taking(self) -> None:
        """From now on /readyz answers 503 and upgrades are refused (safe in a signal
        handler: it only sets a flag)."""
        self.draining = True

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stop taking sockets, answer the frames in flight, close every socket with 1012."""
        from chat_server.wire.protocol import CloseCode

        self.stop_taking()
        conns = [conn for conns in self.connections.values() for conn in conns]
        await asyncio.gather(*(conn.drain(CloseCode.SERVICE_RESTART, timeout_s)
                               for conn in conns), return_exceptions=True)

    def local(self, principal_id: str) -> set[Connection]:
        return self.connections.get(principal_id, set())
