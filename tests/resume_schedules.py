"""A client that follows docs/PROTOCOL.md's reconnect procedure, and random schedules of
connection cuts and node deaths to run it through.

Each side (worker, counselor) keeps what a real client keeps: the last seq it displayed,
and its sends not yet acknowledged, in order. Every connection is checked as it goes:
the first frame is `welcome`, and each `message` of the conversation is exactly the next
seq after what the side had displayed (so after its `sync`, from its resume point, with
no gap, no repeat, no reordering). At the end of a schedule both sides have displayed
every stored message and every send is stored exactly once.

No message text, ID number or token is printed: failures name seqs and client ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import websockets

from tests.conftest import ORIGIN

IN_FLIGHT = 4


@dataclass
class Target:
    """A node the clients can reach, and how the schedule kills it."""

    base: str
    kill: Callable[[], Awaitable[None]]


class Side:
    def __init__(self, name: str, path: str, cookie: str, conversation_id: str) -> None:
        self.name = name
        self.path = path
        self.cookie = cookie
        self.conv = conversation_id
        self.shown = 0  # last seq displayed
        self.pending: list[str] = []  # client ids not yet sent
        self.unacked: list[str] = []  # sent, no ack yet, in order
        self.acked: dict[str, int] = {}
        self.ws: websockets.ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.counter = 0
        self.resend_at = 0.0  # loop time before which a refused send is not resent
        self.refused = False
        self.connections = 0
        self.refusals: list[str] = []  # error codes of refused sends, for the caller

    # ---- sending ------------------------------------------------------------------

    def queue(self, count: int) -> None:
        for _ in range(count):
            self.counter += 1
            self.pending.append(f"{self.name[0]}-{self.counter}")

    async def _send(self, client_id: str) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "send", "conversation_id": self.conv,
                                       "client_id": client_id, "text": "…"}))

    async def pump(self) -> None:
        """Keep up to IN_FLIGHT sends out; after a refusal, resend in order after the delay."""
        if self.ws is None:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(websockets.ConnectionClosed):
            if self.refused and loop.time() >= self.resend_at:
                self.refused = False
                for client_id in list(self.unacked):
                    await self._send(client_id)
            if self.refused:
                return
            while self.pending and len(self.unacked) < IN_FLIGHT:
                client_id = self.pending.pop(0)
                self.unacked.append(client_id)
                await self._send(client_id)

    # ---- connecting ---------------------------------------------------------------

    async def connect(self, base: str, cut_after_sync: bool = False) -> bool:
        """The documented procedure: welcome, sync from the last displayed, resend."""
        url = base.replace("http://", "ws://") + self.path
        try:
            ws = await websockets.connect(url, additional_headers={
                "Origin": ORIGIN, "Cookie": self.cookie}, compression=None, open_timeout=5)
        except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake, TimeoutError):
            return False
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["type"] == "welcome", f"{self.name}: {first['type']} before welcome"
            await ws.send(json.dumps({"type": "sync", "conversation_id": self.conv,
                                      "after_seq": self.shown}))
            if cut_after_sync:
                ws.transport.abort()  # a reconnect during the sync
                return False
            for client_id in list(self.unacked):
                await ws.send(json.dumps({"type": "send", "conversation_id": self.conv,
                                          "client_id": client_id, "text": "…"}))
        except (websockets.ConnectionClosed, OSError, TimeoutError):
            ws.transport.abort()
            return False
        self.ws = ws
        self.connections += 1
        self.reader = asyncio.create_task(self._read(ws))
        return True

    def cut(self) -> None:
        if self.ws is not None:
            self.ws.transport.abort()
        self.ws = None

    async def _read(self, ws: websockets.ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message" and frame.get("conversation_id") == self.conv:
                    seq = frame["seq"]
                    assert seq == self.shown + 1, (
                        f"{self.name} connection {self.connections}: seq {seq} after "
                        f"{self.shown} ({'repeat' if seq <= self.shown else 'gap'})")
                    self.shown = seq
                elif kind == "ack":
                    client_id = frame["client_id"]
                    if client_id in self.unacked:
                        self.unacked.remove(client_id)
                    previous = self.acked.setdefault(client_id, frame["seq"])
                    assert previous == frame["seq"], f"{client_id} acked as two seqs"
                elif kind == "error":
                    code = frame.get("code")
                    assert code in ("unavailable", "rate_limited"), f"{self.name}: {code}"
                    self.refusals.append(code)
                    # Nothing stored: resend the unacknowledged ones, in order, later.
                    self.refused = True
                    delay = frame.get("retry_after_ms", 1000) / 1000
                    self.resend_at = asyncio.get_running_loop().time() + delay
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.ws is ws:
                self.ws = None

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await self.reader


async def run_schedule(rng: random.Random, sides: Sequence[Side], targets: Sequence[Target],
                       steps: int = 12) -> list[str]:
    """One random schedule; returns its actions (for the failure message)."""
    done: list[str] = []

    async def ensure(side: Side, base: str | None = None) -> None:
        for attempt in range(100):
            if side.ws is not None:
                return
            if await side.connect(base or rng.choice(targets).base):
                return
            base = None
            await asyncio.sleep(0.05 * min(attempt + 1, 10))
        raise AssertionError(f"{side.name} could not reconnect")

    for side in sides:
        await ensure(side)
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.45:
            for side in sides:
                side.queue(rng.randrange(0, 8))
            done.append("burst")
        elif roll < 0.65:
            victims = [s for s in sides if rng.random() < 0.6] or [rng.choice(sides)]
            for side in victims:
                side.cut()
            done.append("cut " + "+".join(s.name for s in victims))
            await asyncio.sleep(rng.choice([0, 0, 0.01, 0.05]))
            for side in victims:
                await ensure(side, rng.choice(targets).base)
        elif roll < 0.8:
            side = rng.choice(sides)
            side.cut()
            await side.connect(rng.choice(targets).base, cut_after_sync=True)
            done.append(f"cut {side.name} during sync")
            await ensure(side)
        elif roll < 0.9:
            index = rng.randrange(len(targets))
            done.append(f"kill node {index}")
            await targets[index].kill()
            for side in sides:
                await ensure(side)
        for side in sides:
            await side.pump()
        await asyncio.sleep(rng.choice([0, 0.001, 0.01]))
        for side in sides:
            await ensure(side)
            await side.pump()
    await settle(sides, targets)
    return done


async def settle(sides: Sequence[Side], targets: Sequence[Target], timeout: float = 30) -> None:
    """Let everything be sent and acknowledged, then check both sides saw it all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for side in sides:
            if side.ws is None:
                await side.connect(targets[0].base) or await side.connect(targets[-1].base)
            await side.pump()
        total = sum(len(s.acked) for s in sides)
        if (all(not s.pending and not s.unacked for s in sides)
                and all(s.shown == total for s in sides)):
            break
        assert loop.time() < deadline, (
            f"not settled: shown {[s.shown for s in sides]} of {total}, "
            f"unacked {[len(s.unacked) for s in sides]}, pending {[len(s.pending) for s in sides]}")
        await asyncio.sleep(0.02)
    seqs = sorted(seq for s in sides for seq in s.acked.values())
    assert seqs == list(range(1, len(seqs) + 1)), "stored seqs are not one run"
    for side in sides:
        # A sender's messages are stored in the order it sent them.
        mine = [side.acked[k] for k in sorted(side.acked, key=lambda k: int(k.split("-")[1]))]
        assert mine == sorted(mine), f"{side.name}'s sends stored out of order"
