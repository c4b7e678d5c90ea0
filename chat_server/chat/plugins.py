"""What the chat core asks of the features built around it: typed collaborators, fixed
when the node is composed (wiring.py), never appended to at run time.

The chat core imports none of crisis/, roster/ or selfservice/: they implement these
protocols and wiring passes them in, so dependencies run one way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chat_server.chat.connection import Connection
from chat_server.chat.store import Appended, Conversation
from chat_server.wire.protocol import Command


class Risk(Protocol):
    """An assessment stored with a worker's message (its level is a floor)."""

    @property
    def level(self) -> int: ...

    @property
    def reasons(self) -> Sequence[str]: ...


# Runs on the send path before the store: must take microseconds (rules only).
Assessor = Callable[[str], Risk]
CommandHandler = Callable[[Connection, Command], Awaitable[None]]


class MessageObserver(Protocol):
    def worker_message(self, conv: Conversation, appended: Appended, text: str,
                       risk: Risk | None) -> None:
        """A new worker message was stored and acknowledged; `risk` is what the assessor
        said of it before the store (None without one). Called on the send path, so it must
        not wait: it queues the work for a task of its own (a task per message cost ~10 µs
        of the event loop per worker message at saturation)."""


class WelcomeExtra(Protocol):
    async def welcome_extra(self, conn: Connection) -> dict[str, Any]:
        """Extra fields for a staff welcome frame."""


class DutyGuard(Protocol):
    async def guard(self, staff_id: str, now: dt.datetime) -> str | None:
        """An error message if this counselor may not go on duty now."""


class WaitAdvisor(Protocol):
    async def wait_hook(self, estimate: int | None) -> dict[str, Any]:
        """What a waiting worker is told besides the estimate (may replace it)."""


class IntakeObserver(Protocol):
    async def chat_requested(self, conn: Connection, conv: Conversation) -> None:
        """A new chat request is queued (before its `queued` reply)."""


@dataclass(frozen=True, slots=True)
class Plugins:
    """What features add to the chat core once they are built (see core.Matching for
    what the core needs before them)."""

    assessor: Assessor | None = None
    commands: Mapping[type[Command], CommandHandler] = field(default_factory=dict)
    message_observers: Sequence[MessageObserver] = ()
    welcome_extras: Sequence[WelcomeExtra] = ()
    duty_guards: Sequence[DutyGuard] = ()
    intake_observers: Sequence[IntakeObserver] = ()
