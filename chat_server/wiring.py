"""Assembles the app from its features: the one place that knows every route."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import WebSocketRoute

from chat_queue.store import QueueStore
from chat_server import access, metrics
from chat_server.accounts import staff_routes as admin_routes
from chat_server.accounts.sessions import SessionStore
from chat_server.app import create_app
from chat_server.chat import retention
from chat_server.chat import routes as api
from chat_server.chat.dispatch import Dispatcher
from chat_server.chat.endpoint import staff_endpoint, worker_endpoint
from chat_server.chat.hub import Hub
from chat_server.chat.node import Node
from chat_server.chat.store import ConversationStore
from chat_server.clock import NodeClock
from chat_server.config import Settings
from chat_server.crisis import board, directory
from chat_server.crisis import feature as crisis_feature
from chat_server.ops import reports
from chat_server.periodic import cancel, every
from chat_server.problems import Problem, http_error_handler, problem_handler
from chat_server.roster import service as shifts_feature
from chat_server.roster.hours import Hours
from chat_server.selfservice import service as selfservice
from chat_server.services import Services
from chat_server.vault import load_key_ring
from chat_server.wire.protocol import CloseCode
from crypto.envelope import Vault
from crypto.pseudonym import CardRule

# Often enough for a 2-minute alert; each round is one small query and one Redis read.
GAUGES_EVERY_S = 15.0


@contextlib.asynccontextmanager
async def cluster_gauges(app: Starlette) -> AsyncIterator[None]:
    """Refresh the cluster-wide gauges (metrics.py) while the node runs."""
    node: Node = app.state.node

    async def present() -> int:
        return sum(1 for seat in await node.queue.on_duty() if seat.present)

    async def refresh() -> None:
        now = node.now()
        await metrics.refresh_cluster_gauges(node.services.pool, present, now,
                                             node.hours.is_open(now))

    await refresh()
    task = asyncio.create_task(every(GAUGES_EVERY_S, refresh, "cluster gauges"))
    try:
        yield
    finally:
        await cancel(task)


def build_app(settings: Settings) -> Starlette:
    ring = load_key_ring(settings)
    card_rule = CardRule.parse(settings.card_rule)
    hours = Hours(settings.tz, settings.open_time, settings.close_time, settings.closed_days)
    app: Starlette

    @contextlib.asynccontextmanager
    async def chat(services: Services) -> AsyncIterator[None]:
        vault = Vault(ring)
        hub = Hub(services.redis)
        clock = NodeClock()
        node = Node(
            services=services,
            vault=vault,
            sessions=SessionStore(services.pool, ring, card_rule, clock),
            conversations=ConversationStore(services.pool, vault, clock),
            queue=QueueStore(services.redis),
            hub=hub,
            hours=hours,
            time=clock,
        )
        node.dispatcher = Dispatcher(node)
        app.state.node = node
        metrics.watch_connections(
            lambda role: sum(1 for conns in node.connections.values() for c in conns
                             if str(c.role) == role))
        await hub.start()
        await node.writer.start()
        await node.dispatcher.start()
        try:
            yield
        finally:
            await node.dispatcher.stop()
            await node.writer.stop()
            for conns in list(node.connections.values()):
                for conn in list(conns):
                    conn.close(CloseCode.SERVICE_RESTART)
            await hub.stop()

    app = create_app(
        settings,
        routes=[
            *api.routes(),
            *crisis_feature.routes(),
            *board.routes(),
            *shifts_feature.routes(),
            *admin_routes.routes(),
            *retention.routes(),
            *reports.routes(),
            *directory.routes(),
            *selfservice.routes(),
            WebSocketRoute("/ws/worker", worker_endpoint),
            WebSocketRoute("/ws/staff", staff_endpoint),
        ],
        # The crisis feature needs the node the chat feature made, so it comes after it.
        # The shifts feature needs the node the chat feature builds: it comes after it.
        features=[chat, lambda services: crisis_feature.running(app),
                  shifts_feature.feature(lambda: app), lambda services: cluster_gauges(app),
                  retention.feature(lambda: app), selfservice.feature(lambda: app)],
    )
    app.add_exception_handler(Problem, problem_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    access.enforce(app.routes)
    return app
