"""Assembles the app: the one place that knows every route and builds every service.

Services are built in dependency order in the node's lifespan and passed to what uses
them as constructor arguments. Routes are made before the lifespan runs, so they reach
what it built through `Running` (a getter that fails loudly before start-up), never
through app.state. The chat core imports no feature: each feature implements the small
protocols of chat/plugins.py and is handed to the core here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from chat_queue.store import QueueStore
from chat_server import access, metrics
from chat_server.accounts import staff_routes as admin_routes
from chat_server.accounts.sessions import SessionStore
from chat_server.app import create_app
from chat_server.chat import retention, staff_api
from chat_server.chat import routes as api
from chat_server.chat.connection import Connection
from chat_server.chat.core import ChatCore, Matching
from chat_server.chat.endpoint import Pump, socket_routes
from chat_server.chat.hub import Hub
from chat_server.chat.node import Node
from chat_server.chat.plugins import Plugins
from chat_server.chat.sockets import Sockets
from chat_server.chat.store import Conversation, ConversationStore
from chat_server.chat.wake import Wake
from chat_server.clock import NodeClock
from chat_server.config import Settings
from chat_server.crisis import board, directory
from chat_server.crisis.commands import CrisisCommands
from chat_server.crisis.hotlines import HOTLINES
from chat_server.crisis.routes import CrisisRoutes
from chat_server.crisis.rule_engine import rules_first
from chat_server.crisis.service import CrisisService
from chat_server.crisis.sweeper import CrisisSweeper
from chat_server.ops import reports
from chat_server.periodic import cancel, every
from chat_server.problems import Problem, http_error_handler, problem_handler
from chat_server.roster import routes as roster_routes
from chat_server.roster import service as roster
from chat_server.roster.hours import Hours
from chat_server.roster.store import supervisor_of_the_hour
from chat_server.selfservice import assessments, booking, library, open_days
from chat_server.selfservice import reports as service_reports
from chat_server.selfservice import service as selfservice_service
from chat_server.selfservice.service import SelfService, Stores
from chat_server.services import Services
from chat_server.vault import load_key_ring
from chat_server.wire.protocol import FRAMES, CloseCode
from crypto.envelope import Vault
from crypto.pseudonym import CardRule

# Often enough for a 2-minute alert; each round is one small query and one Redis read.
GAUGES_EVERY_S = 15.0

@dataclass(frozen=True, slots=True)
class Parts:
    """Everything one running node built, in the order it was built."""

    node: Node
    sockets: Sockets
    core: ChatCore
    crisis: CrisisService
    shifts: roster.Shifts
    selfservice: SelfService
    pump: Pump


class Running:
    """What the lifespan built, for the routes made before it."""

    def __init__(self) -> None:
        self._parts: Parts | None = None

    def get(self) -> Parts:
        if self._parts is None:
            raise RuntimeError("the node has not started")
        return self._parts

    def started(self, parts: Parts) -> None:
        self._parts = parts

    def draining(self) -> bool:
        """Stopping on purpose (not yet started is not draining: /readyz checks the rest)."""
        return self._parts is not None and self._parts.sockets.draining


class SelfServiceIntake:
    """Self-service's part in a new chat request (a chat IntakeObserver): a positive PHQ-9
    item 9 raises the band; a booked slot goes to its counselor."""

    def __init__(self, rt: SelfService) -> None:
        self.rt = rt

    async def chat_requested(self, conn: Connection, conv: Conversation) -> None:
        await assessments.on_chat_requested(self.rt, conn, conv)
        await booking.on_chat_requested(self.rt, conn, conv)


async def refresh_gauges(node: Node) -> None:
    """The cluster-wide gauges (metrics.py): each round one small query, one Redis read."""

    async def present() -> int:
        return sum(1 for seat in await node.queue.on_duty() if seat.present)

    now = node.now()
    await metrics.refresh_cluster_gauges(node.services.pool, present, now,
                                         node.hours.is_open(now))


@contextlib.asynccontextmanager
async def loop(name: str, every_s: float, step: object) -> AsyncIterator[None]:
    task = asyncio.create_task(every(every_s, step, name), name=name)  # type: ignore[arg-type]
    try:
        yield
    finally:
        await cancel(task)


def build_app(settings: Settings) -> Starlette:
    ring = load_key_ring(settings)
    card_rule = CardRule.parse(settings.card_rule)
    hours = Hours(settings.tz, settings.open_time, settings.close_time, settings.closed_days)
    running = Running()
    app: Starlette

    @contextlib.asynccontextmanager
    async def node_lifespan(services: Services) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            parts = await start(services, stack)
            running.started(parts)
            # For the CLI's drain and the tests only: no route or feature reads app.state.
            app.state.parts = parts
            yield

    async def start(services: Services, stack: contextlib.AsyncExitStack) -> Parts:
        vault = Vault(ring)
        clock = NodeClock()
        hub = Hub(services.redis)
        node = Node(
            services=services, vault=vault,
            sessions=SessionStore(services.pool, ring, card_rule, clock),
            conversations=ConversationStore(services.pool, vault, clock),
            queue=QueueStore(services.redis), hub=hub, hours=hours, time=clock,
        )
        wake = Wake()
        sockets = Sockets()

        async def rostered(now: dt.datetime) -> list[str]:
            return await supervisor_of_the_hour(services.pool, now, tz=hours.tz)

        crisis = CrisisService(node, wake, rostered)
        shifts = roster.Shifts(node, wake, HOTLINES)
        matching = Matching(node, sockets, wake, advisors=(shifts,), hotlines=HOTLINES)
        clock_ = node.time
        selfservice = SelfService(node, wake, matching.matcher, crisis, shifts, Stores(
            assessments=assessments.AssessmentStore(services.pool, vault, clock_),
            library=library.LibraryStore(services.pool, clock_),
            booking=booking.BookingStore(services.pool, clock_),
            open_days=open_days.OpenDayStore(services.pool, clock_),
        ))
        core = ChatCore(matching, Plugins(
            assessor=rules_first,
            commands=CrisisCommands(crisis).handlers(),
            message_observers=(crisis,),
            welcome_extras=(crisis,),
            duty_guards=(shifts,),
            intake_observers=(SelfServiceIntake(selfservice),),
        ))
        pump = Pump(core, FRAMES)
        metrics.watch_connections(sockets.count)

        # Started in order, stopped in reverse (the exit stack).
        await hub.start()
        stack.push_async_callback(hub.stop)
        stack.callback(sockets.close_all, CloseCode.SERVICE_RESTART)
        await node.writer.start()
        stack.push_async_callback(node.writer.stop)
        await core.start()
        stack.push_async_callback(core.stop)
        await crisis.start()
        stack.push_async_callback(crisis.stop)
        sweeper = CrisisSweeper(crisis)
        sweeper.start()
        stack.push_async_callback(sweeper.stop)
        await stack.enter_async_context(loop("roster-sweeper", roster.SWEEP_S, shifts.sweep))
        await refresh_gauges(node)
        await stack.enter_async_context(
            loop("cluster gauges", GAUGES_EVERY_S, lambda: refresh_gauges(node)))
        await stack.enter_async_context(loop(
            "retention", retention.CHECK_S, retention.RetentionJob(node).tick))
        await selfservice.library.seed(library.SEED)
        await stack.enter_async_context(loop(
            "booking-sweeper", selfservice_service.SWEEP_S, lambda: booking.sweep(selfservice)))
        return Parts(node, sockets, core, crisis, shifts, selfservice, pump)

    # Getters for the routes: each handler is given the service it uses (functools.partial).
    def node() -> Node:
        return running.get().node

    def core() -> ChatCore:
        return running.get().core

    def selfservice() -> SelfService:
        return running.get().selfservice

    def shifts() -> roster.Shifts:
        return running.get().shifts

    def sessions() -> SessionStore:
        return running.get().node.sessions

    routes: list[BaseRoute] = [
        *api.routes(core, node),
        *staff_api.routes(core, node),
        *CrisisRoutes(lambda: running.get().crisis).routes(),
        *board.routes(core, node),
        *roster_routes.routes(shifts),
        *admin_routes.routes(node),
        *retention.routes(node),
        *reports.routes(shifts),
        *directory.routes(node),
        *assessments.routes(selfservice), *library.routes(selfservice),
        *booking.routes(selfservice), *open_days.routes(selfservice),
        *service_reports.routes(selfservice),
        *socket_routes(lambda: running.get().pump),
    ]
    app = create_app(settings, routes=routes, features=[node_lifespan],
                     draining=running.draining)
    app.add_exception_handler(Problem, problem_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    access.enforce(app.routes, sessions)
    return app

