"""Several app nodes sharing PostgreSQL and Redis: failover without loss, and races."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from chat_server.accounts.sessions import SessionStore
from chat_server.wire.protocol import Role
from crypto.keyring import KeyRing
from crypto.pseudonym import DEFAULT_CARD_RULE
from tests.clients import PASSWORD, Staff, Worker, make_staff
from tests.conftest import ORIGIN

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """`yizhan serve` in its own process, so it can be killed with SIGKILL."""

    def __init__(self, db_url: str, redis_url: str, key_file: Path, log: Path,
                 port: int | None = None, **env_extra: str) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "YIZHAN_KEY_FILE": str(key_file),
            "PORT": str(self.port),
            "YIZHAN_ALLOWED_ORIGINS": ORIGIN,
            "YIZHAN_OPEN_TIME": "00:00",
            "YIZHAN_DUTY_REQUIRES_ROSTER": "false",
            **env_extra,
        }
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chat_server.cli", "serve"], env=env,
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, "node exited during start-up"
                try:
                    if (await client.get(self.base + "/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("node did not become ready")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
async def two_processes(clean, backend_urls, key_file, tmp_path):
    db_url, redis_url = backend_urls
    nodes = [NodeProcess(db_url, redis_url, key_file, tmp_path / f"node{i}.log") for i in (1, 2)]
    try:
        await asyncio.gather(*(n.ready() for n in nodes))
        yield nodes
    finally:
        for n in nodes:
            n.stop()


async def create_counselor(db_url: str, key_file: Path, username: str) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        store = SessionStore(pool, KeyRing.load(key_file), DEFAULT_CARD_RULE)
        await store.create_staff(username, "小林", Role.COUNSELOR, PASSWORD, 2)
    finally:
        await pool.close()


async def test_kill_the_workers_node_and_resume_on_the_other(two_processes, backend_urls,
                                                            key_file) -> None:
    node_a, node_b = two_processes
    await create_counselor(backend_urls[0], key_file, "lin")
    counselor = Staff(node_b.base, "lin", PASSWORD)
    assert (await counselor.sign_in()).status_code == 201
    cws = await counselor.connect()
    await counselor.on_duty()

    worker = Worker(node_a.base)
    assert (await worker.sign_in()).status_code == 201
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched", timeout=10)
    await cws.expect("assigned", timeout=10)

    acked_worker: list[int] = []
    acked_counselor: list[int] = []
    for i in range(5):
        await wws.send({"type": "send", "conversation_id": conv, "client_id": f"w{i}",
                        "text": f"w{i}"})
        acked_worker.append((await wws.expect("ack", client_id=f"w{i}"))["seq"])
        await cws.send({"type": "send", "conversation_id": conv, "client_id": f"c{i}",
                        "text": f"c{i}"})
        acked_counselor.append((await cws.expect("ack", client_id=f"c{i}"))["seq"])

    # The worker's node dies mid-conversation; a send may be in flight, unacknowledged.
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w-inflight",
                    "text": "w-inflight"})
    node_a.kill()
    for i in range(5, 8):  # the counselor keeps writing while the worker is gone
        await cws.send({"type": "send", "conversation_id": conv, "client_id": f"c{i}",
                        "text": f"c{i}"})
        acked_counselor.append((await cws.expect("ack", client_id=f"c{i}"))["seq"])

    # The worker reconnects to the other node with the same session and resumes.
    seen_by_worker = sorted({f["seq"] for f in worker.ws.frames if f.get("type") == "message"})
    last = max(seen_by_worker, default=0)
    worker.base = node_b.base
    await worker.ws.close()
    wws = await worker.connect(node_b.base)
    await wws.send({"type": "sync", "conversation_id": conv, "after_seq": last})
    synced = await wws.expect("synced", conversation_id=conv)
    # Resend what was never acknowledged, with its original client_id.
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w-inflight",
                    "text": "w-inflight"})
    inflight = await wws.expect("ack", client_id="w-inflight")
    acked_worker.append(inflight["seq"])

    after = [f["seq"] for f in wws.frames if f.get("type") == "message"]
    # Exactly once, in order, nothing missing: the replay plus live delivery is contiguous.
    combined = [s for s in seen_by_worker] + after
    assert combined == sorted(set(combined)), "duplicated or reordered delivery"
    final = max(inflight["seq"], synced["last_seq"])
    deadline = time.monotonic() + 5
    while max(combined) < final and time.monotonic() < deadline:
        await wws.recv(2)
        combined = seen_by_worker + [f["seq"] for f in wws.frames if f.get("type") == "message"]
    assert combined == list(range(1, final + 1))
    for seq in acked_worker + acked_counselor:
        assert seq in combined

    # The counselor sees every acknowledged message of the worker once, in order.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = [f["seq"] for f in cws.frames if f.get("type") == "message"]
        if got and got[-1] >= final:
            break
        await cws.recv(2)
    got = [f["seq"] for f in cws.frames if f.get("type") == "message"]
    assert got == list(range(1, final + 1))
    await worker.close()
    await counselor.close()


async def test_race_fifty_workers_twenty_counselors_two_nodes(node_factory) -> None:
    # Fifty sign-ins from one test address would trip the per-address limit.
    node_a = await node_factory(signin_per_minute_per_ip=1000)
    node_b = await node_factory(signin_per_minute_per_ip=1000)
    counselors = []
    for i in range(20):
        node = (node_a, node_b)[i % 2]
        counselors.append(await make_staff(node, capacity=1 + i % 3))
    capacity = {c.id: 1 + i % 3 for i, c in enumerate(counselors)}
    # Nobody on duty yet: the workers line up first, in a known order.
    workers = [Worker((node_a, node_b)[i % 2].base) for i in range(50)]
    await asyncio.gather(*(w.sign_in() for w in workers))
    await asyncio.gather(*(w.connect() for w in workers))
    order = []
    for w in workers:
        await w.request_chat()
        order.append(w.conversation_id)
    await asyncio.gather(*(c.connect() for c in counselors))
    await asyncio.gather(*(c.on_duty() for c in counselors))

    total = sum(capacity.values())  # 40 seats for 50 workers
    deadline = time.monotonic() + 15
    pool = node_a.node.services.pool
    while time.monotonic() < deadline:
        active = await pool.fetchval("SELECT count(*) FROM conversations WHERE status='active'")
        if active >= total:
            break
        await asyncio.sleep(0.2)
    rows = await pool.fetch(
        "SELECT id::text, counselor_id::text, status FROM conversations ORDER BY queued_at")
    per_counselor: dict[str, int] = {}
    for r in rows:
        if r["status"] == "active":
            per_counselor[r["counselor_id"]] = per_counselor.get(r["counselor_id"], 0) + 1
    assert sum(per_counselor.values()) == total
    for staff_id, n in per_counselor.items():
        assert n <= capacity[staff_id], "a counselor went over capacity"
    # First come first served: the matched ones are exactly the first 40 to join.
    matched = {r["id"] for r in rows if r["status"] == "active"}
    assert matched == set(order[:total])
    # Each worker was told about exactly one match, and no counselor got a worker twice.
    assigned = [f["conversation"]["id"] for c in counselors
                for f in c.ws.frames if f.get("type") == "assigned"]
    await asyncio.sleep(0.5)
    for c in counselors:
        while True:
            try:
                await c.ws.recv(0.05)
            except TimeoutError:
                break
    assigned = [f["conversation"]["id"] for c in counselors
                for f in c.ws.frames if f.get("type") == "assigned"]
    assert sorted(assigned) == sorted(matched)
    await asyncio.gather(*(w.close() for w in workers), *(c.close() for c in counselors))


async def test_vanished_counselor_hands_the_conversation_over(node_factory) -> None:
    node = await node_factory(presence_ttl_s=2, counselor_grace_s=1)
    first = await make_staff(node)
    fws = await first.connect()
    await first.on_duty()
    worker = Worker(node.base)
    await worker.sign_in()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched")
    await fws.expect("assigned")
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w1", "text": "在吗"})
    await wws.expect("ack", client_id="w1")

    # The counselor's browser vanishes without going off duty.
    await fws.close()
    await wws.expect("counselor_away", timeout=10)
    await wws.expect("queued", timeout=10)
    # Back in the queue, the worker is told its place again like any waiting worker.
    assert (await wws.expect("queue", conversation_id=conv, timeout=5))["position"] == 1
    stats = await node.parts.core.waiting.queue_stats()
    assert stats["length"] == 1
    assert stats["longest_wait_s"] < 60  # a real wait, not seconds since 1970
    # A second counselor comes on duty and takes the conversation over.
    second = await make_staff(node)
    sws = await second.connect()
    await second.on_duty()
    await wws.expect("matched", timeout=10)
    assigned = await sws.expect("assigned", timeout=10)
    assert assigned["conversation"]["id"] == conv and assigned["conversation"]["handover"]
    await sws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    earlier = await sws.expect("message", seq=1)
    assert earlier["from"] == "worker"
    await sws.expect("synced", conversation_id=conv)
    audit = await node.node.services.pool.fetch(
        "SELECT action, actor_staff_id::text AS who FROM audit_log"
        " WHERE conversation_id = $1::uuid ORDER BY id", conv)
    actions = [a["action"] for a in audit]
    assert actions[-3:] == ["handover_requeue", "handover_assign", "read_transcript"]
    assert audit[-1]["who"] == second.id  # re-reading the earlier messages is audited
    await worker.close()
    await second.close()
    await first.close()
