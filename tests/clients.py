"""Test clients that speak the public protocol: HTTP sign-in, then a real WebSocket."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from typing import Any

import httpx
import websockets

from tests.conftest import ORIGIN

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_counter = itertools.count(1)


def resident_id(rng: random.Random | None = None) -> str:
    """A valid 18-character resident ID (random, so never a real person's on purpose)."""
    rng = rng or random.Random()
    body = f"110105{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


class WsClient:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._seen = 0

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame, ensure_ascii=False))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """Read frames until one of `type_` (and matching fields) arrives."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                seen = [f.get("type") for f in self.frames[-10:]]
                raise AssertionError(f"no {type_} frame; last frames: {seen}")
            frame = await self.recv(left)
            if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def close(self) -> None:
        await self.ws.close()


async def connect(url: str, cookie: str, origin: str = ORIGIN) -> WsClient:
    ws = await websockets.connect(
        url, additional_headers={"Origin": origin, "Cookie": cookie}, compression=None
    )
    return WsClient(ws)


class Worker:
    def __init__(self, base: str, number: str | None = None) -> None:
        self.base = base
        self.number = number or resident_id()
        self.http = httpx.AsyncClient(base_url=base, headers={"Origin": ORIGIN})
        self.alias = ""
        self.ws: WsClient | None = None
        self.conversation_id = ""

    async def sign_in(self, consent: str = "2026-11", **extra: Any) -> httpx.Response:
        r = await self.http.post("/api/worker/session",
                                 json={"number": self.number, "consent_version": consent, **extra})
        if r.status_code == 201:
            self.alias = r.json()["alias"]
        return r

    @property
    def cookie(self) -> str:
        return f"yz_w={self.http.cookies.get('yz_w')}"

    async def connect(self, base: str | None = None) -> WsClient:
        url = (base or self.base).replace("http://", "ws://") + "/ws/worker"
        self.ws = await connect(url, self.cookie)
        await self.ws.expect("welcome")
        return self.ws

    async def request_chat(self) -> dict[str, Any]:
        assert self.ws
        await self.ws.send({"type": "request_chat"})
        queued = await self.ws.expect("queued")
        self.conversation_id = queued["conversation_id"]
        return queued

    async def close(self) -> None:
        if self.ws:
            await self.ws.close()
        await self.http.aclose()


class Staff:
    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        self.username = username
        self.password = password
        self.http = httpx.AsyncClient(base_url=base, headers={"Origin": ORIGIN})
        self.ws: WsClient | None = None
        self.id = ""

    async def sign_in(self) -> httpx.Response:
        r = await self.http.post("/api/staff/session",
                                 json={"username": self.username, "password": self.password})
        if r.status_code == 201:
            self.id = r.json()["id"]
        return r

    @property
    def cookie(self) -> str:
        return f"yz_s={self.http.cookies.get('yz_s')}"

    async def connect(self, base: str | None = None) -> WsClient:
        url = (base or self.base).replace("http://", "ws://") + "/ws/staff"
        self.ws = await connect(url, self.cookie)
        await self.ws.expect("welcome")
        return self.ws

    async def on_duty(self) -> dict[str, Any]:
        assert self.ws
        await self.ws.send({"type": "duty", "on": True})
        return await self.ws.expect("duty", on=True)

    async def close(self) -> None:
        if self.ws:
            await self.ws.close()
        await self.http.aclose()


PASSWORD = "correct horse battery staple 9"


async def make_staff(node: Any, role: str = "counselor", name: str | None = None,
                     capacity: int = 2) -> Staff:
    from chat_server.wire.protocol import Role

    username = name or f"{role}{next(_counter)}"
    await node.node.sessions.create_staff(username, f"小{username[-2:]}", Role(role), PASSWORD,
                                          capacity)
    staff = Staff(node.base, username, PASSWORD)
    r = await staff.sign_in()
    assert r.status_code == 201, r.text
    return staff


async def ready_pair(node: Any, **staff: Any) -> tuple[Worker, WsClient, Staff, WsClient]:
    """An on-duty counselor on `node` and a signed-in worker, both connected, not matched."""
    counselor = await make_staff(node, **staff)
    cws = await counselor.connect()
    await counselor.on_duty()
    worker = Worker(node.base)
    r = await worker.sign_in()
    assert r.status_code == 201, r.text
    wws = await worker.connect()
    return worker, wws, counselor, cws


async def matched_pair(node: Any, **staff: Any) -> tuple[Worker, WsClient, Staff, WsClient, str]:
    """An on-duty counselor on `node` and a worker matched with them, both connected."""
    worker, wws, counselor, cws = await ready_pair(node, **staff)
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched")
    await cws.expect("assigned")
    return worker, wws, counselor, cws, conv
