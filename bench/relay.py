"""The bare relay: the same public frames as Yizhan with no auth, storage, crypto or Redis.

It is the floor the real server is measured against: whatever the relay costs is the price
of Python, uvicorn and the WebSocket library alone. It signs anyone in, matches first come
first served in memory, numbers messages per conversation, and fans them out directly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

_ids = itertools.count(1)


@dataclass(eq=False)
class Peer:
    ws: WebSocket
    role: str
    capacity: int = 2
    load: int = 0
    on_duty: bool = False
    conversations: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Chat:
    id: str
    worker: Peer
    counselor: Peer | None = None
    seq: int = 0


class Relay:
    def __init__(self) -> None:
        self.waiting: deque[Chat] = deque()
        self.chats: dict[str, Chat] = {}
        self.counselors: list[Peer] = []

    async def match(self) -> None:
        while self.waiting:
            seat = next((c for c in self.counselors if c.on_duty and c.load < c.capacity), None)
            if seat is None:
                return
            chat = self.waiting.popleft()
            chat.counselor = seat
            seat.load += 1
            seat.conversations.add(chat.id)
            await send(chat.worker.ws, {"type": "matched", "conversation_id": chat.id,
                                        "counselor": "relay"})
            await send(seat.ws, {"type": "assigned", "conversation": {
                "id": chat.id, "alias": "relay", "status": "active", "last_seq": 0,
                "risk_level": "none", "handover": False}})


relay = Relay()


async def send(ws: WebSocket, frame: dict[str, Any]) -> None:
    await ws.send_text(json.dumps(frame, ensure_ascii=False))


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


async def sign_in(request: Request) -> JSONResponse:
    cookie = "yz_w" if request.url.path.startswith("/api/worker") else "yz_s"
    response = JSONResponse({"alias": "relay", "id": str(next(_ids)), "display_name": "relay",
                             "role": "counselor", "capacity": 2}, status_code=201)
    response.set_cookie(cookie, secrets.token_urlsafe(16), httponly=True, samesite="strict")
    return response


async def handle(peer: Peer, frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    ref = {"ref": frame["ref"]} if "ref" in frame else {}
    if kind == "send":
        chat = relay.chats.get(frame.get("conversation_id", ""))
        if chat is None or chat.counselor is None:
            await send(peer.ws, {"type": "error", "code": "not_found", **ref})
            return
        chat.seq += 1
        at = now()
        await send(peer.ws, {"type": "ack", "conversation_id": chat.id,
                             "client_id": frame["client_id"], "seq": chat.seq, "at": at,
                             "duplicate": False, **ref})
        message = {"type": "message", "conversation_id": chat.id, "seq": chat.seq,
                   "from": peer.role, "client_id": frame["client_id"], "kind": "text",
                   "text": frame["text"], "at": at}
        for target in (chat.worker, chat.counselor):
            await send(target.ws, message)
    elif kind == "request_chat":
        chat = Chat(id=f"r{next(_ids)}", worker=peer)
        relay.chats[chat.id] = chat
        peer.conversations.add(chat.id)
        relay.waiting.append(chat)
        await send(peer.ws, {"type": "queued", "conversation_id": chat.id,
                             "position": len(relay.waiting), "estimated_wait_s": None, **ref})
        await relay.match()
    elif kind == "capacity":
        peer.capacity = int(frame["capacity"])
        await send(peer.ws, {"type": "duty", "on": peer.on_duty, "load": peer.load,
                             "capacity": peer.capacity, "draining": False, **ref})
    elif kind == "duty":
        peer.on_duty = bool(frame.get("on"))
        await send(peer.ws, {"type": "duty", "on": peer.on_duty, "load": peer.load,
                             "capacity": peer.capacity, "draining": False, **ref})
        await relay.match()
    elif kind == "end":
        chat = relay.chats.pop(frame.get("conversation_id", ""), None)
        if chat is None:
            return
        for target in (chat.worker, chat.counselor):
            if target is not None:
                target.conversations.discard(chat.id)
                await send(target.ws, {"type": "ended", "conversation_id": chat.id,
                                       "by": peer.role})
        if chat.counselor is not None:
            chat.counselor.load -= 1
            await relay.match()  # the freed seat goes to the next in line
    elif kind == "ping":
        await send(peer.ws, {"type": "pong", "at": now(), **ref})


async def endpoint(ws: WebSocket) -> None:
    role = "worker" if ws.url.path.endswith("/worker") else "counselor"
    await ws.accept()
    peer = Peer(ws, role)
    if role == "counselor":
        relay.counselors.append(peer)
    await send(ws, {"type": "welcome", "role": role, "conversation": None})
    try:
        while True:
            await handle(peer, json.loads(await ws.receive_text()))
    except WebSocketDisconnect:
        pass
    finally:
        if peer in relay.counselors:
            relay.counselors.remove(peer)


app = Starlette(routes=[
    Route("/api/worker/session", sign_in, methods=["POST"]),
    Route("/api/staff/session", sign_in, methods=["POST"]),
    Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
    WebSocketRoute("/ws/worker", endpoint),
    WebSocketRoute("/ws/staff", endpoint),
])


def main() -> None:
    import uvicorn

    from chat_server.websocket_server import websocket_options

    parser = argparse.ArgumentParser(description="bare WebSocket relay (benchmark baseline)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The same server options as chat_server.cli.run_server, so only the app differs.
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                **websocket_options(16 * 1024),
                ws_ping_interval=20, ws_ping_timeout=20, log_config=None, access_log=False,
                server_header=False)


if __name__ == "__main__":
    main()
