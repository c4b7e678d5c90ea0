"""What one app node holds while it runs: its stores, the hub, the writer and the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from chat_queue.store import QueueStore
from chat_server.accounts.sessions import SessionStore
from chat_server.chat.hours import ServiceHours
from chat_server.chat.hub import Hub
from chat_server.chat.store import ConversationStore
from chat_server.chat.writer import MessageWriter
from chat_server.clock import Clock, NodeClock
from chat_server.config import Settings
from chat_server.services import Services
from crypto.envelope import Vault


@dataclass
class Node:
    services: Services
    vault: Vault
    sessions: SessionStore
    conversations: ConversationStore
    queue: QueueStore
    hub: Hub
    hours: ServiceHours
    writer: MessageWriter = field(init=False)
    # Shared with the stores, so pinning it pins every time the node writes or compares.
    time: NodeClock = field(default_factory=NodeClock)

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


# The running node, for routes: they are made before the lifespan builds it (wiring.py).
NodeRef = Callable[[], Node]
