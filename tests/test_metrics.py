"""Metrics an operator alerts on: set by real traffic, named the Prometheus way."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from chat_server import metrics
from chat_server.clock import system_clock
from tests.clients import make_staff, matched_pair
from tests.crisis.test_escalation_e2e import RISK, say


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_traffic_sets_connections_waits_acks_and_escalations(node) -> None:
    waits = value("yizhan_queue_wait_seconds_count")
    acks = value("yizhan_message_ack_seconds_count")
    escalation_acks = value("yizhan_escalation_ack_seconds_count")
    sup = await make_staff(node, "supervisor")
    sws = await sup.connect()
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    assert value("yizhan_connections", role="worker") == 1
    assert value("yizhan_connections", role="counselor") == 1
    assert value("yizhan_connections", role="supervisor") == 1
    assert value("yizhan_queue_wait_seconds_count") == waits + 1

    await say(wws, conv, RISK, "w1")
    assert value("yizhan_message_ack_seconds_count") == acks + 1
    esc = (await sws.expect("escalation", timeout=2))["escalation"]

    async def present() -> int:
        return sum(1 for seat in await node.node.queue.on_duty() if seat.present)

    pool = node.node.services.pool
    await metrics.refresh_cluster_gauges(pool, present, system_clock(), True)
    assert value("yizhan_escalations_open") == 1
    assert value("yizhan_escalations_overdue") == 0
    assert value("yizhan_counselors_on_duty") == 1
    assert value("yizhan_service_open") == 1
    assert value("yizhan_backend_up", backend="postgres") == 1

    await sws.send({"type": "ack", "escalation_id": esc["id"]})
    await sws.expect("escalation_result")
    assert value("yizhan_escalation_ack_seconds_count") == escalation_acks + 1

    for who in (worker, counselor, sup):
        await who.close()


async def test_metrics_answer_local_requests_only(node) -> None:
    async with httpx.AsyncClient(base_url=node.base) as client:
        r = await client.get("/metrics")
        assert r.status_code == 200 and "yizhan_connections" in r.text
        relayed = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert relayed.status_code == 403


async def test_a_metrics_port_takes_metrics_off_the_app_port(node_factory) -> None:
    own = await node_factory(metrics_port=1)  # any value: the app only checks it is set
    async with httpx.AsyncClient() as client:
        assert (await client.get(own.base + "/metrics")).status_code == 404
    server = metrics.serve("127.0.0.1", 0)
    try:
        port = server.server_port
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{port}/metrics")
        assert r.status_code == 200 and "yizhan_queue_wait_seconds_bucket" in r.text
    finally:
        server.shutdown()
        server.server_close()
