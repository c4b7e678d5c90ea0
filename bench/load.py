"""The load generator: speaks only the public protocol (docs/PROTOCOL.md), in its own process.

One run signs in counselors and workers, matches them through the queue (timing
queue → matched), chats at a fixed rate (one-way latency), then at saturation with a
bounded number of sends in flight, then ends every conversation. It checks every
delivery: seqs must arrive in order with no gap and no repeat, and every acknowledged
message must reach the other side exactly once. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import random
import resource
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psutil
import uvloop
from websockets.exceptions import InvalidHandshake

from bench.wsclient import Socket

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PASSWORD = "correct horse battery staple 9"
# Ordinary words on purpose: no crisis phrase, so no escalations distort the figures.
TEXT = "今天又加班到很晚，心里有点烦，想找人聊聊。"
# Sign-in + connect attempts per simulated phone before the run fails.
SETUP_TRIES = 3
# How long to wait for stragglers before counting a message lost.
DRAIN_S = 10.0


def resident_id(rng: random.Random) -> str:
    body = f"110105{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(values: list[float]) -> dict[str, Any]:
    """Percentiles in milliseconds of durations given in seconds."""
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 2)
    return {"n": len(values), "p50": ms(pct(values, 0.50)), "p95": ms(pct(values, 0.95)),
            "p99": ms(pct(values, 0.99)), "max": ms(max(values) if values else None)}


class CpuMeter:
    """CPU seconds of named processes (with their children: PostgreSQL forks backends)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.procs["loadgen"] = psutil.Process()

    def snapshot(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, proc in self.procs.items():
            times: dict[int, float] = {}
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    times[p.pid] = t.user + t.system
                except psutil.Error:
                    pass
            out[name] = times
        return out

    @staticmethod
    def percent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
                wall: float) -> dict[str, float]:
        """Percent of one core per process group over `wall` seconds."""
        out = {}
        for name, times in after.items():
            used = sum(t - before.get(name, {}).get(pid, 0.0) for pid, t in times.items())
            out[name] = round(100 * used / wall, 1)
        return out

    def rss(self, names: list[str]) -> int:
        return sum(self.procs[n].memory_info().rss for n in names if n in self.procs)


class Http:
    """Sign-in over HTTP. The jar refuses cookies: every sign-in must start clean."""

    def __init__(self) -> None:
        jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.client = httpx.AsyncClient(cookies=jar, timeout=30,
                                        limits=httpx.Limits(max_connections=32))

    async def post_cookie(self, url: str, origin: str, body: dict[str, Any], name: str) -> str:
        r = await self.client.post(url, json=body, headers={"Origin": origin})
        if r.status_code != 201:
            raise RuntimeError(f"sign-in {url} answered {r.status_code}: {r.text[:200]}")
        for header in r.headers.get_list("set-cookie"):
            key, _, rest = header.partition("=")
            if key.strip() == name:
                return rest.split(";", 1)[0]
        raise RuntimeError(f"no {name} cookie from {url}")


ASSESSMENT = "yizhan_crisis_assessment_delay_seconds"


def assessment_from_metrics(texts: list[str]) -> dict[str, Any]:
    """The crisis stage's delay (ack → assessed, and escalated if high) from the nodes'
    /metrics histograms, merged: quantiles are bucket upper bounds (an upper estimate)."""
    buckets: dict[float, float] = {}
    backlog = 0.0
    for text in texts:
        for line in text.splitlines():
            if line.startswith(ASSESSMENT + "_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                bound = float("inf") if le == "+Inf" else float(le)
                buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
            elif line.startswith("yizhan_crisis_backlog "):
                backlog += float(line.rsplit(" ", 1)[1])
    count = buckets.get(float("inf"), 0.0)
    if not count:
        return {"assessed": 0}

    def quantile(q: float) -> float | None:
        for bound in sorted(buckets):
            if buckets[bound] >= q * count:
                return None if bound == float("inf") else round(bound * 1000, 1)
        return None

    return {"assessed": int(count), "p50_ms_at_most": quantile(0.5),
            "p99_ms_at_most": quantile(0.99), "max_ms_at_most": quantile(1.0),
            "backlog_at_end": int(backlog)}


@dataclass(eq=False)
class Conv:
    id: str
    worker: Peer
    counselor: Peer | None = None
    sent: int = 0


@dataclass(eq=False)
class Peer:
    role: str  # "worker" or "counselor"
    base: str
    ws: Socket | None = None
    # Frames wait here while the peer is being set up; once live, each goes to on_frame
    # as it arrives.
    frames: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    live: bool = False
    conv: Conv | None = None  # a worker's conversation
    last_seq: dict[str, int] = field(default_factory=dict)
    t_request: float = 0.0
    t_queued: float = 0.0
    t_matched: float = 0.0


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bases: list[str] = args.base.split(",")
        self.rng = random.Random(args.seed)
        self.http = Http()
        self.meter = CpuMeter(json.loads(args.pids) if args.pids else {})
        self.server_names = [n for n in self.meter.procs if n.startswith("server")]
        self.convs: dict[str, Conv] = {}
        self.phase = "setup"
        # client_id → (send time, phase, conversation, sender role)
        self.pending: dict[str, tuple[float, str, Conv, str]] = {}
        self.acked: set[str] = set()
        self.delivered: Counter[str] = Counter()  # deliveries to the other side
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.ack_latency: dict[str, list[float]] = defaultdict(list)
        self.acks_in_phase: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.order_faults = 0
        self.seq_repeats = 0
        # Saturation: each side's next send goes out when an earlier one is answered.
        self.refill: dict[str, tuple[Conv, Peer]] = {}
        self.saturate_until = 0.0
        self.matched = asyncio.Event()
        self.n_matched = 0
        self.n_assigned = 0
        self.ended = 0
        self.counter = 0
        self.setup_retries = 0
        # Workers queued behind full seats for the hand-off figure, and their matches.
        self.handoff_peers: set[int] = set()
        self.handoff_matched: asyncio.Queue[float] = asyncio.Queue()

    def origin(self, base: str) -> str:
        return base

    # ---- connecting -------------------------------------------------------------------

    async def open_socket(self, peer: Peer, cookie: str) -> None:
        path = "/ws/worker" if peer.role == "worker" else "/ws/staff"
        name = "yz_w" if peer.role == "worker" else "yz_s"
        peer.ws = await Socket.connect(
            peer.base.replace("http://", "ws://") + path,
            {"Origin": self.origin(peer.base), "Cookie": f"{name}={cookie}"},
            lambda data: self.arrived(peer, data))
        await self.expect(peer, "welcome")

    async def sign_in_worker(self, base: str) -> str:
        return await self.http.post_cookie(
            base + "/api/worker/session", self.origin(base),
            {"number": resident_id(self.rng), "consent_version": "2026-11"}, "yz_w")

    async def bounded(self, jobs: list[Any], limit: int) -> list[Any]:
        gate = asyncio.Semaphore(limit)

        async def run(job: Any) -> Any:
            async with gate:
                return await job
        return await asyncio.gather(*(run(j) for j in jobs))

    async def setup_counselor(self, i: int) -> Peer:
        peer = Peer("counselor", self.bases[i % len(self.bases)])
        cookie = await self.http.post_cookie(
            peer.base + "/api/staff/session", self.origin(peer.base),
            {"username": f"bench{i:04d}", "password": PASSWORD}, "yz_s")
        await self.open_socket(peer, cookie)
        self.send(peer, {"type": "capacity", "capacity": self.args.capacity})
        await self.expect(peer, "duty")
        self.send(peer, {"type": "duty", "on": True})
        await self.expect(peer, "duty")
        return peer

    async def setup_worker(self, i: int) -> Peer:
        peer = Peer("worker", self.bases[i % len(self.bases)])
        for attempt in range(SETUP_TRIES):
            try:
                await self.open_socket(peer, await self.sign_in_worker(peer.base))
                return peer
            except (OSError, httpx.HTTPError, TimeoutError, RuntimeError, InvalidHandshake):
                # Under 10,000 connections a reset can happen; retry, and count it.
                self.setup_retries += 1
                if attempt == SETUP_TRIES - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def send(self, peer: Peer, frame: dict[str, Any]) -> None:
        assert peer.ws is not None
        peer.ws.send_text(orjson.dumps(frame))

    async def expect(self, peer: Peer, type_: str) -> dict[str, Any]:
        """During setup: the next frame of this type (frames before it are dropped)."""
        while True:
            frame = await asyncio.wait_for(peer.frames.get(), 30)
            if frame.get("type") == type_:
                return frame
            if frame.get("type") == "error":
                raise RuntimeError(f"waiting for {type_}: {frame}")

    # ---- receiving: every frame after setup goes to on_frame --------------------------

    def arrived(self, peer: Peer, data: bytes) -> None:
        now = time.perf_counter()
        frame = orjson.loads(data)
        if peer.live:
            self.on_frame(peer, frame, now)
        else:
            peer.frames.put_nowait(frame)

    def go_live(self, peer: Peer) -> None:
        """Set-up is over: frames not yet read go to on_frame, then every new one."""
        peer.live = True
        now = time.perf_counter()
        while not peer.frames.empty():
            self.on_frame(peer, peer.frames.get_nowait(), now)

    def on_frame(self, peer: Peer, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            conv_id = frame["conversation_id"]
            last = peer.last_seq.get(conv_id, 0)
            seq = frame["seq"]
            if seq <= last:
                self.seq_repeats += 1
                return
            if seq != last + 1:
                self.order_faults += 1
            peer.last_seq[conv_id] = seq
            if frame["from"] != peer.role:
                cid = frame["client_id"]
                self.delivered[cid] += 1
                sent = self.pending.get(cid)
                if sent is not None and self.delivered[cid] == 1:
                    self.latency[sent[1]].append(now - sent[0])
        elif kind == "ack":
            cid = frame["client_id"]
            sent = self.pending.get(cid)
            if sent is not None and cid not in self.acked:
                self.acked.add(cid)
                self.ack_latency[sent[1]].append(now - sent[0])
                self.acks_in_phase[sent[1]] += 1
                self.answered(sent, now)
        elif kind == "error":
            self.errors[frame.get("code", "?")] += 1
            ref = frame.get("ref")
            sent = self.pending.get(ref or "")
            if sent is not None:
                self.answered(sent, now)
        elif kind == "queued" and peer.role == "worker":
            peer.t_queued = now
            peer.conv = Conv(frame["conversation_id"], peer)
            self.convs[peer.conv.id] = peer.conv
        elif kind == "matched":
            if id(peer) in self.handoff_peers:
                self.handoff_matched.put_nowait(now)
            peer.t_matched = now
            self.n_matched += 1
            self.check_matched()
        elif kind == "assigned":
            conv_id = frame["conversation"]["id"]
            self.n_assigned += 1
            self.assigned.append((conv_id, peer))
            self.check_matched()
        elif kind == "ended":
            self.ended += 1

    def answered(self, sent: tuple[float, str, Conv, str], now: float) -> None:
        """A send was acked (or refused): at saturation its side sends the next one."""
        if sent[1] == "saturation" and now < self.saturate_until:
            side = self.refill.get(f"{sent[2].id}:{sent[3]}")
            if side is not None:
                self.send_message(*side)

    def check_matched(self) -> None:
        if self.n_matched >= self.args.conversations and self.n_assigned >= self.args.conversations:
            self.matched.set()

    # ---- chatting ---------------------------------------------------------------------

    def send_message(self, conv: Conv, peer: Peer) -> None:
        self.counter += 1
        cid = f"{peer.role[0]}{self.counter}"
        self.pending[cid] = (time.perf_counter(), self.phase, conv, peer.role)
        self.send(peer, {"type": "send", "conversation_id": conv.id, "client_id": cid,
                         "text": f"{TEXT}#{self.counter}", "ref": cid})

    async def paced(self, conv: Conv, peer: Peer, until: float) -> None:
        """One message a second from one side, starting at a random offset."""
        await asyncio.sleep(self.rng.random())
        nxt = time.perf_counter()
        while nxt < until:
            self.send_message(conv, peer)
            nxt += 1.0
            await asyncio.sleep(max(0.0, nxt - time.perf_counter()))

    async def saturate(self, conv: Conv, peer: Peer, until: float) -> None:
        """`window` sends in flight from one side: each answer sends the next (answered)."""
        self.refill[f"{conv.id}:{peer.role}"] = (conv, peer)
        self.saturate_until = until
        for _ in range(self.args.window):
            self.send_message(conv, peer)
        await asyncio.sleep(max(0.0, until - time.perf_counter()))

    async def phase_run(self, name: str, seconds: float, sender: Any) -> dict[str, Any]:
        self.phase = name
        before = self.meter.snapshot()
        start = time.perf_counter()
        until = start + seconds
        sides = [(c, p) for c in self.convs.values() for p in (c.worker, c.counselor)]
        await asyncio.gather(*(sender(c, p, until) for c, p in sides if p is not None))
        wall = time.perf_counter() - start
        cpu = CpuMeter.percent(before, self.meter.snapshot(), wall)
        await self.drain()
        return {"seconds": round(wall, 2), "acked": self.acks_in_phase[name],
                "acked_per_s": round(self.acks_in_phase[name] / wall, 1),
                "one_way_ms": summary_ms(self.latency[name]),
                "ack_ms": summary_ms(self.ack_latency[name]), "cpu_percent": cpu}

    async def drain(self) -> None:
        """Wait until every acked message reached the other side, or DRAIN_S."""
        deadline = time.perf_counter() + DRAIN_S
        while time.perf_counter() < deadline:
            outstanding = len(self.pending) - len(self.acked) - self.errors.total()
            if outstanding <= 0 and all(self.delivered[c] for c in self.acked):
                return
            await asyncio.sleep(0.05)

    async def chat_run(self) -> dict[str, Any]:
        args = self.args
        n_counselors = -(-args.conversations // args.capacity)
        t0 = time.perf_counter()
        counselors = await self.bounded(
            [self.setup_counselor(i) for i in range(n_counselors)], 8)
        workers = await self.bounded(
            [self.setup_worker(i) for i in range(args.conversations)], 32)
        setup_s = time.perf_counter() - t0
        self.assigned: list[tuple[str, Peer]] = []
        for p in [*counselors, *workers]:
            self.go_live(p)
        # Matching: every worker asks at once; the queue fills and drains.
        before = self.meter.snapshot()
        start = time.perf_counter()
        for w in workers:
            w.t_request = time.perf_counter()
            self.send(w, {"type": "request_chat"})
        try:
            await asyncio.wait_for(self.matched.wait(), 120)
        except TimeoutError:
            pass
        match_wall = time.perf_counter() - start
        match_cpu = CpuMeter.percent(before, self.meter.snapshot(), match_wall)
        for conv_id, peer in self.assigned:
            if conv_id in self.convs:
                self.convs[conv_id].counselor = peer
        done = [w for w in workers if w.t_matched]
        matching = {
            "waiting": args.conversations, "counselors": n_counselors,
            "matched": len(done), "all_matched_s": round(match_wall, 3),
            "request_to_queued_ms": summary_ms([w.t_queued - w.t_request for w in done]),
            "request_to_matched_ms": summary_ms([w.t_matched - w.t_request for w in done]),
            "cpu_percent": match_cpu,
        }
        phases = {"paced": await self.phase_run("paced", args.duration, self.paced)}
        # The crisis stage's delay at the paced load alone (the 1 msg/s per side),
        # before saturation floods it: 2 s lets the last messages' assessments land.
        await asyncio.sleep(2)
        try:
            metrics = [(await self.http.client.get(base + "/metrics")).text
                       for base in self.bases]
            phases["paced"]["assessment"] = assessment_from_metrics(metrics)
        except httpx.HTTPError:
            pass  # the bare relay has no /metrics
        if args.saturation > 0:
            phases["saturation"] = await self.phase_run("saturation", args.saturation,
                                                        self.saturate)
        handoff = None
        if args.handoff > 0:
            handoff = await self.handoff_run(list(self.convs.values()))
        for conv in self.convs.values():
            self.send(conv.worker, {"type": "end", "conversation_id": conv.id})
        t_end = time.perf_counter()
        deadline = t_end + 3
        while self.ended < 2 * len(self.convs) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        end_s = time.perf_counter() - t_end
        lost = sum(1 for c in self.acked if self.delivered[c] == 0)
        duplicated = sum(1 for c in self.acked if self.delivered[c] > 1) + self.seq_repeats
        for p in [*counselors, *workers]:
            assert p.ws is not None
            await p.ws.close()
        return {
            "scenario": "chat", "conversations": args.conversations, "nodes": len(self.bases),
            "setup_s": round(setup_s, 2), "end_s": round(end_s, 2), "ended": self.ended,
            "matching": matching, "phases": phases, "handoff": handoff,
            "integrity": {"sent": len(self.pending), "acked": len(self.acked), "lost": lost,
                          "duplicated": duplicated, "out_of_order": self.order_faults,
                          "unacked": len(self.pending) - len(self.acked),
                          "errors": dict(self.errors)},
        }

    async def handoff_run(self, chats: list[Conv]) -> dict[str, Any]:
        """With every seat taken and `handoff` workers waiting, end one conversation at a
        time: how long from freeing a seat until the next waiting worker hears `matched`."""
        args = self.args
        extra = await self.bounded(
            [self.setup_worker(args.conversations + i) for i in range(args.handoff)], 32)
        self.handoff_peers = {id(p) for p in extra}
        for p in extra:
            self.go_live(p)
            self.send(p, {"type": "request_chat"})
        deadline = time.perf_counter() + 60
        while any(not p.t_queued for p in extra) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing in flight: every seat is taken
        while not self.handoff_matched.empty():
            self.handoff_matched.get_nowait()  # matches before the measure are not samples
        samples: list[float] = []
        timeouts = stray = 0
        for conv in [c for c in chats if c.counselor is not None][: args.handoff_samples]:
            # A match heard between samples was caused by no end of ours: it is counted
            # and dropped, so no later sample takes it for its own. (Matches are queued
            # from data_received, so none can slip in between this and t0.)
            while not self.handoff_matched.empty():
                self.handoff_matched.get_nowait()
                stray += 1
            t0 = time.perf_counter()
            self.send(conv.worker, {"type": "end", "conversation_id": conv.id})
            try:
                samples.append(await asyncio.wait_for(self.handoff_matched.get(), 10) - t0)
            except TimeoutError:
                timeouts += 1
            await asyncio.sleep(0.05)
        return {"waiting": len(extra), "samples": len(samples), "timeouts": timeouts,
                "stray_matches": stray, "end_to_matched_ms": summary_ms(samples)}

    async def idle_run(self) -> dict[str, Any]:
        """Open many signed-in, idle worker sockets and weigh the server's resident memory."""
        args = self.args
        rss_before = self.meter.rss(self.server_names)
        own_before = psutil.Process().memory_info().rss
        t0 = time.perf_counter()
        peers = await self.bounded(
            [self.setup_worker(i) for i in range(args.connections)], 64)
        setup_s = time.perf_counter() - t0
        await asyncio.sleep(args.settle)  # let the server settle (allocator, pending tasks)
        rss_after = self.meter.rss(self.server_names)
        own_after = psutil.Process().memory_info().rss
        for p in peers:
            assert p.ws is not None
            await p.ws.close()
        return {
            "scenario": "idle", "connections": args.connections, "setup_s": round(setup_s, 2),
            "setup_retries": self.setup_retries,
            "server_rss_before_mb": round(rss_before / 2**20, 1),
            "server_rss_after_mb": round(rss_after / 2**20, 1),
            "server_kb_per_connection": round((rss_after - rss_before) / 1024 / args.connections,
                                              1),
            "loadgen_kb_per_connection": round((own_after - own_before) / 1024 / args.connections,
                                               1),
        }


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    load = Load(args)
    try:
        if args.scenario == "chat":
            return await load.chat_run()
        return await load.idle_run()
    finally:
        await load.http.client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Yizhan load generator (public protocol only)")
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT[,http://...]")
    parser.add_argument("--scenario", choices=("chat", "idle"), required=True)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=10, help="conversations per counselor")
    parser.add_argument("--duration", type=float, default=10, help="paced phase seconds")
    parser.add_argument("--saturation", type=float, default=0, help="saturation phase seconds")
    parser.add_argument("--window", type=int, default=4, help="sends in flight per side")
    parser.add_argument("--handoff", type=int, default=0,
                        help="workers left waiting behind full seats for the hand-off figure")
    parser.add_argument("--handoff-samples", type=int, default=50,
                        help="conversations ended one by one, each timed to the next match")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=3, help="seconds before weighing")
    parser.add_argument("--pids", default="", help='JSON {"server": pid, ...} to meter')
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = uvloop.run(amain(args))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
