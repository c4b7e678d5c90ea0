"""The WebSocket endpoints: a thin pump between a socket, the frame handlers and the feed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping

from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Receive, Scope
from starlette.types import Send as AsgiSend
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from chat_server import metrics
from chat_server.access import SOCKETS
from chat_server.accounts.sessions import STAFF_COOKIE, WORKER_COOKIE
from chat_server.chat.commands import RETRY_AFTER_MS, Commands, name_first_refused
from chat_server.chat.connection import MAX_IN_FLIGHT, Connection
from chat_server.chat.core import ChatCore
from chat_server.chat.hub import device_channel, role_channel, session_channel, user_channel
from chat_server.chat.node import Node
from chat_server.wire import codec as wire
from chat_server.wire.protocol import (
    FLOOD_STRIKES,
    CloseCode,
    Command,
    ErrorCode,
    FrameSpec,
    ProtocolError,
    Role,
    Send,
    decode,
    parse,
    read_ref,
)

log = logging.getLogger("yizhan.ws")

# Re-exported for the tests and tools that size a socket's work by it.
__all__ = ["MAX_IN_FLIGHT", "Pump", "SocketEndpoint", "socket_routes"]


def origin_allowed(ws: WebSocket, node: Node) -> bool:
    origin = ws.headers.get("origin")
    return origin is not None and origin.rstrip("/") in node.settings.allowed_origins


class Pump:
    """The node's sockets: built once the chat core is, handed to the WebSocket routes."""

    def __init__(self, core: ChatCore, frames: Mapping[str, FrameSpec]) -> None:
        self.core = core
        self.commands = Commands(core, frames)

    async def serve(self, ws: WebSocket, send: AsgiSend, cookie: str,
                    roles: frozenset[Role]) -> None:
        await serve(self.core, self.commands, ws, send, cookie, roles)


async def serve(core: ChatCore, commands: Commands, ws: WebSocket, send: AsgiSend,
                cookie: str, roles: frozenset[Role]) -> None:
    node = core.node
    if not origin_allowed(ws, node):
        # Refused before accepting: the client sees HTTP 403 on the upgrade.
        await ws.close(code=1008)
        return
    if core.sockets.draining:
        # Stopping: the client should go to another node. (HTTP 503 on the upgrade.)
        await ws.send_denial_response(PlainTextResponse(
            "node stopping", status_code=503, headers={"Retry-After": "1"}))
        return
    principal = await node.sessions.lookup(ws.cookies.get(cookie))
    await ws.accept()
    if principal is None or principal.role not in roles:
        await ws.close(CloseCode.UNAUTHENTICATED)
        return
    conn = Connection(ws, principal, node)
    core.sockets.add(conn)
    writer = asyncio.create_task(write_out(conn, send))
    remove_resync = node.hub.on_resync(conn.resync_all)
    try:
        if principal.is_staff:
            await conn.listen(user_channel(principal.id))
            await conn.listen(role_channel(str(principal.role)))
        else:
            # Never "every socket of this worker": a worker socket hears its own session
            # and the devices it holds, so a match reaches only sessions that may read it.
            await conn.listen(session_channel(principal.token_hash))
            for device in principal.devices:
                await conn.listen(device_channel(device))
        conn.welcome(await core.welcome.welcome(conn))
        await read_loop(conn, commands)
    finally:
        remove_resync()
        core.sockets.remove(conn)
        for channel in list(conn.channels):
            await conn.unlisten(channel)
        for task in list(conn.tasks):
            task.cancel()
        conn.close(conn.close_code or 1000)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):  # not wait_for: see Wake.wait
                await writer
        await core.presence.disconnected(conn)


async def write_out(conn: Connection, send: AsgiSend) -> None:
    """Write the socket's outbox with the server's own ASGI send (see SocketEndpoint)."""
    try:
        while (frames := await conn.outbox.take()) is not None:
            for frame in frames:
                await send({"type": "websocket.send",
                            "text": frame if isinstance(frame, str) else wire.dumps(frame)})
    except (OSError, WebSocketDisconnect):
        pass  # the peer is gone (uvicorn's ClientDisconnected is an OSError)
    except Exception as exc:
        # Anything else is a frame that cannot be sent; the socket is closed below.
        # Said by the error's type only: a frame's contents must never reach a log.
        log.warning("socket writer failed; closing",
                    extra={"fields": {"error": type(exc).__name__}})
    finally:
        conn.closed.set()
        if conn.reader is not None:
            conn.reader.cancel()  # closed from our side: nothing more is read (read_loop)
        if conn.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await conn.ws.close(conn.close_code or 1000)


async def read_loop(conn: Connection, commands: Commands) -> None:
    """Read frames until the client leaves or the connection is closed from our side."""
    # One reader task per socket, not one per frame: a task and a wait() per frame were
    # a visible share of a node's CPU at thousands of frames a second.
    # Closing from our side stops the reader from write_out, not from a second task
    # waiting for `closed` here: that task and asyncio.wait were ~2 KB of every idle socket.
    reader = conn.reader = asyncio.create_task(_read_frames(conn, commands))
    if conn.closed.is_set():
        reader.cancel()  # closed before the reader existed
    failure: Exception | None = None
    try:
        await reader
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # this socket's own task is cancelled (the reader with it)
        # Otherwise the reader was stopped: closed from our side, or a drain.
    except Exception as exc:
        failure = exc
    finally:
        reader.cancel()
    if conn.draining:
        # The drain stopped the reader; it closes the socket once the frames in flight
        # are answered (leaving now would cancel them).
        await conn.closed.wait()
    elif failure is not None:
        raise failure  # an unexpected failure is raised here, as before


async def _read_frames(conn: Connection, commands: Commands) -> None:
    ws = conn.ws
    try:
        while conn.close_code is None:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None and message.get("bytes") is not None:
                raw = message["bytes"]
            admitted = admit(conn, raw, commands.frames)
            if admitted is not None:
                await conn.in_flight.acquire()
                conn.spawn(run_in_lane(commands, conn, *admitted))
    except WebSocketDisconnect:
        return


def charge(conn: Connection, cost: float) -> None:
    wait = conn.bucket.take(cost, time.monotonic())
    if wait:
        if conn.bucket.strikes >= FLOOD_STRIKES:
            conn.close(CloseCode.FLOOD)
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many frames; slow down",
                            retry_after=round(wait, 1), retry_after_ms=math.ceil(wait * 1000))


Admitted = tuple[Command, str | None, ProtocolError | None]


def admit(conn: Connection, raw: str | bytes | None,
          frames: Mapping[str, FrameSpec]) -> Admitted | None:
    """Parse and rate-limit a frame, in arrival order; errors are answered at once, except
    a rate-limited `send`'s: that one is answered in its conversation's lane (see below)."""
    ref = None
    try:
        try:
            data = decode(raw or b"")
            ref = read_ref(data, conn.limits)
            command, spec = parse(data, conn.role, conn.limits, frames)
        except ProtocolError:
            # Malformed frames cost as much as a send, so garbage cannot flood for free.
            charge(conn, 1.0)
            raise
        try:
            charge(conn, spec.cost)
        except ProtocolError as exc:
            if isinstance(command, Send):
                # Refused in the lane, after the sends admitted before it: refusing it
                # here would make those, still waiting their turn, refused as out of
                # order behind a later send (answered with its client_id, never stored).
                return command, ref, exc
            raise
    except ProtocolError as exc:
        metrics.PROTOCOL_ERRORS.labels(code=str(exc.code)).inc()
        conn.push(exc.frame(ref))
        return None
    return command, ref, None


async def run_in_lane(commands: Commands, conn: Connection, command: Command,
                      ref: str | None, refusal: ProtocolError | None = None) -> None:
    """Handle a frame after the earlier frames of the same conversation."""
    lane = getattr(command, "conversation_id", None) or "_"
    lock = conn.lanes.setdefault(lane, asyncio.Lock())
    try:
        async with lock:
            try:
                if refusal is not None:
                    if isinstance(command, Send):
                        name_first_refused(conn, command, refusal)
                    raise refusal
                await commands.handle(conn, command)
            except ProtocolError as exc:
                metrics.PROTOCOL_ERRORS.labels(code=str(exc.code)).inc()
                conn.push(exc.frame(ref))
            except Exception:
                log.exception("frame handling failed")
                error = ProtocolError(ErrorCode.UNAVAILABLE, "something went wrong; retry",
                                      retry_after_ms=RETRY_AFTER_MS)
                if isinstance(command, Send):
                    name_first_refused(conn, command, error)
                conn.push(error.frame(ref))
    finally:
        conn.in_flight.release()


class SocketEndpoint:
    """A WebSocket route's ASGI app. Not a Starlette endpoint function, so that a socket's
    writer gets the server's own send: Starlette's WebSocket.send_text adds two coroutine
    layers and state checks to every frame (~4 % of a node's CPU at saturation). The
    handshake, receiving and closing still go through Starlette's WebSocket."""

    def __init__(self, cookie: str, roles: frozenset[Role], pump: Callable[[], Pump]) -> None:
        self.cookie = cookie
        self.roles = roles
        # The node's pump, made in the lifespan (routes are made before it).
        self.pump = pump

    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        await self.pump().serve(WebSocket(scope, receive, send), send, self.cookie, self.roles)


def socket_routes(pump: Callable[[], Pump]) -> list[BaseRoute]:
    return [
        WebSocketRoute("/ws/worker", SocketEndpoint(WORKER_COOKIE, SOCKETS["/ws/worker"], pump)),
        WebSocketRoute("/ws/staff", SocketEndpoint(STAFF_COOKIE, SOCKETS["/ws/staff"], pump)),
    ]
