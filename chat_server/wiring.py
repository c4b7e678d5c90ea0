"""Assembles the app from its features: the one place that knows every route."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import WebSocketRoute

from chat_queue.store import QueueStore
from chat_server import access, api, board, crisis_feature, shifts_feature
from chat_server.app import create_app
from chat_server.clock import NodeClock
from chat_server.config import Settings
from chat_server.conversations import ConversationStore
from chat_server.dispatch import Dispatcher
from chat_server.endpoint import staff_endpoint, worker_endpoint
from chat_server.hours import Hours
from chat_server.hub import Hub
from chat_server.node import Node
from chat_server.problems import Problem, http_error_handler, problem_handler
from chat_server.protocol import CloseCode
from chat_server.services import Services
from chat_server.sessions import SessionStore
from chat_server.vault import load_key_ring
from crypto.envelope import Vault
from crypto.pseudonym import CardRule


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
            WebSocketRoute("/ws/worker", worker_endpoint),
            WebSocketRoute("/ws/staff", staff_endpoint),
        ],
        # The crisis feature needs the node the chat feature made, so it comes after it.
        # The shifts feature needs the node the chat feature builds: it comes after it.
        features=[chat, lambda services: crisis_feature.running(app),
                  shifts_feature.feature(lambda: app)],
    )
    app.add_exception_handler(Problem, problem_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    access.enforce(app.routes)
    return app
