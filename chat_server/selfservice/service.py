"""The federation's self-service on a node: assessments, library, booking, open days, reports.

One feature composed here: its stores, the chat hooks it adds to the dispatcher, its
sweeper, and every route. The domain modules (assessments, library, booking, open_days,
service_reports) hold their own SQL and routes; this module only wires them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute

from chat_server.accounts.sessions import STAFF_COOKIE, WORKER_COOKIE, Principal
from chat_server.app import Feature
from chat_server.chat.node import Node
from chat_server.periodic import cancel, every
from chat_server.problems import Problem, require_role
from chat_server.services import Services

# Booked chats whose counselor was busy are retried this often.
SWEEP_S = 2.0

if TYPE_CHECKING:
    from chat_server.crisis.feature import CrisisFeature
    from chat_server.selfservice.assessments import AssessmentStore
    from chat_server.selfservice.booking import BookingStore
    from chat_server.selfservice.library import LibraryStore
    from chat_server.selfservice.open_days import OpenDayStore


class SelfService:
    def __init__(self, node: Node, crisis: CrisisFeature | None) -> None:
        from chat_server.selfservice.assessments import AssessmentStore
        from chat_server.selfservice.booking import BookingStore
        from chat_server.selfservice.library import LibraryStore
        from chat_server.selfservice.open_days import OpenDayStore

        self.node = node
        self.crisis = crisis  # escalations for a positive PHQ-9 item 9
        pool, clock = node.services.pool, node.time
        self.assessments: AssessmentStore = AssessmentStore(pool, node.vault, clock)
        self.library: LibraryStore = LibraryStore(pool, clock)
        self.booking: BookingStore = BookingStore(pool, clock)
        self.open_days: OpenDayStore = OpenDayStore(pool, clock)


def runtime(request: Request) -> SelfService:
    return request.app.state.selfservice


async def worker_of(request: Request) -> Principal:
    from chat_server.chat.routes import principal

    return require_role(await principal(request, WORKER_COOKIE), "worker")


async def staff_of(request: Request, *roles: str) -> Principal:
    from chat_server.chat.routes import principal

    return require_role(await principal(request, STAFF_COOKIE), *roles)


# Writes one worker may make per hour, per kind (a typing-error loop or a script cannot
# fill the tables; a person never comes near these).
WRITES_PER_HOUR = 30


async def limit_writes(request: Request, p: Principal, kind: str) -> None:
    from chat_server.chat.routes import rate_limit

    await rate_limit(runtime(request).node, f"ss:{kind}:{p.id}", WRITES_PER_HOUR, 3600)


def parse_id(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Problem(404, "not_found", f"no such {what}") from None


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def feature(get_app: Callable[[], Starlette]) -> Feature:
    """The per-node lifespan part; runs after the chat and crisis features."""

    @contextlib.asynccontextmanager
    async def selfservice(services: Services) -> AsyncIterator[None]:
        from chat_server.selfservice import assessments, booking, library

        app = get_app()
        node: Node = app.state.node
        rt = SelfService(node, getattr(app.state, "crisis", None))
        app.state.selfservice = rt
        await rt.library.seed(library.SEED)
        if node.dispatcher is not None:
            node.dispatcher.chat_hooks.append(
                lambda conn, conv: assessments.on_chat_requested(rt, conn, conv))
            node.dispatcher.chat_hooks.append(
                lambda conn, conv: booking.on_chat_requested(rt, conn, conv))
        task = asyncio.create_task(every(SWEEP_S, lambda: booking.sweep(rt),
                                         "booked chat sweep"), name="booking-sweeper")
        try:
            yield
        finally:
            await cancel(task)

    return selfservice


def routes() -> list[BaseRoute]:
    from chat_server.selfservice import assessments, booking, library, open_days
    from chat_server.selfservice import reports as service_reports

    return [*assessments.routes(), *library.routes(), *booking.routes(),
            *open_days.routes(), *service_reports.routes()]
