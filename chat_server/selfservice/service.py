"""The federation's self-service on a node: assessments, library, booking, open days, reports.

The domain modules (assessments, library, booking, open_days, reports) hold their own SQL
and routes; this module holds their runtime and the helpers their routes share. Wiring
builds the stores, the runtime, the intake observer and the sweeper.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from chat_server.accounts.sessions import WORKER_COOKIE, Principal
from chat_server.accounts.staff_routes import staff_principal
from chat_server.chat.matcher import Matcher
from chat_server.chat.node import Node
from chat_server.chat.routes import principal, rate_limit
from chat_server.chat.wake import Wake
from chat_server.crisis.service import CrisisService
from chat_server.problems import Problem, require_role
from chat_server.roster.service import Shifts

# Booked chats whose counselor was busy are retried this often.
SWEEP_S = 2.0

if TYPE_CHECKING:
    from chat_server.selfservice.assessments import AssessmentStore
    from chat_server.selfservice.booking import BookingStore
    from chat_server.selfservice.library import LibraryStore
    from chat_server.selfservice.open_days import OpenDayStore


class SelfService:
    """The self-service runtime of one node; wiring builds its stores and passes them in."""

    def __init__(self, node: Node, wake: Wake, matcher: Matcher, crisis: CrisisService,
                 shifts: Shifts, stores: Stores) -> None:
        self.node = node
        # Woken when a positive PHQ-9 item 9 raises a waiting worker's band.
        self.wake = wake
        # Records a booked chat's match the way the matcher records any other.
        self.matcher = matcher
        self.crisis = crisis  # escalations for a positive PHQ-9 item 9
        self.shifts = shifts  # a booking must fall inside its counselor's shift
        self.assessments: AssessmentStore = stores.assessments
        self.library: LibraryStore = stores.library
        self.booking: BookingStore = stores.booking
        self.open_days: OpenDayStore = stores.open_days


@dataclass(frozen=True, slots=True)
class Stores:
    assessments: AssessmentStore
    library: LibraryStore
    booking: BookingStore
    open_days: OpenDayStore


# The node's self-service runtime, for the routes: made in the lifespan, after them.
SelfServiceRef = Callable[[], SelfService]


async def worker_of(rt: SelfService, request: Request) -> Principal:
    return require_role(await principal(rt.node, request, WORKER_COOKIE), "worker")


async def staff_of(rt: SelfService, request: Request, *roles: str) -> Principal:
    return await staff_principal(rt.node, request, *roles)


# Writes one worker may make per hour, per kind (a typing-error loop or a script cannot
# fill the tables; a person never comes near these).
WRITES_PER_HOUR = 30


async def limit_writes(rt: SelfService, p: Principal, kind: str) -> None:
    await rate_limit(rt.node, f"ss:{kind}:{p.id}", WRITES_PER_HOUR, 3600)


def parse_id(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Problem(404, "not_found", f"no such {what}") from None


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
