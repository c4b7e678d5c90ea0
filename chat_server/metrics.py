"""Prometheus metrics. Labels carry roles and codes, never identities or text.

Names follow Prometheus conventions: `_total` counters, `_seconds` histograms, base units.
Cluster-wide gauges (open escalations, counselors on duty) are read from PostgreSQL and
Redis by every node every few seconds, so each node reports the same value: alert on
`max()` of them, never on `sum()`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from wsgiref.simple_server import WSGIServer

import asyncpg
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("yizhan.metrics")

MESSAGES_STORED = Counter("yizhan_messages_stored_total", "Messages stored", ["role"])
STORE_SECONDS = Histogram(
    "yizhan_message_store_seconds", "Receive to stored, acknowledged and queued for fan-out",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
ACK_SECONDS = Histogram(
    "yizhan_message_ack_seconds",
    "From a message's arrival to its ack (which waits for the encrypted store)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
PROTOCOL_ERRORS = Counter("yizhan_protocol_errors_total", "Error frames sent", ["code"])
MATCHES = Counter("yizhan_matches_total", "Workers matched with a counselor")
HANDOVERS = Counter("yizhan_handovers_total", "Conversations requeued after a counselor vanished")
QUEUE_LENGTH = Gauge("yizhan_queue_length", "Workers waiting, as seen by this node")
CONNECTIONS = Gauge("yizhan_connections", "Open WebSocket connections on this node", ["role"])
SIGNINS = Counter("yizhan_signins_total", "Sign-ins", ["kind", "outcome"])
ESCALATION_BREACHES = Counter(
    "yizhan_escalation_ack_breaches_total", "Escalations not acknowledged within the deadline"
)
QUEUE_WAIT = Histogram(
    "yizhan_queue_wait_seconds", "From asking to talk to being matched (hand-overs excluded)",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
ESCALATION_ACK_SECONDS = Histogram(
    "yizhan_escalation_ack_seconds", "From an escalation opening to a supervisor's acknowledgement",
    buckets=(5, 10, 15, 30, 45, 60, 90, 120, 300, 600),
)
ESCALATIONS_OPEN = Gauge(
    "yizhan_escalations_open", "Escalations open or acknowledged, not resolved (cluster-wide)"
)
ESCALATIONS_OVERDUE = Gauge(
    "yizhan_escalations_overdue",
    "Open escalations past their acknowledgement deadline (cluster-wide)",
)
COUNSELORS_ON_DUTY = Gauge(
    "yizhan_counselors_on_duty", "Counselors on duty and present (cluster-wide)"
)
SERVICE_OPEN = Gauge("yizhan_service_open", "1 while intake is open (service hours), else 0")
BACKEND_UP = Gauge(
    "yizhan_backend_up", "1 if this node's last check of the backend succeeded", ["backend"]
)

ROLES = ("worker", "counselor", "supervisor", "admin")

# From acknowledgement to the learned stage's level recorded (and, for high, the
# escalation opened): the crisis stage runs after the ack (chat_server/crisis/stage.py).
ASSESSMENT_SECONDS = Histogram(
    "yizhan_crisis_assessment_delay_seconds",
    "Worker message acknowledged to assessed and, if high, escalated",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ASSESSMENT_BACKLOG = Gauge("yizhan_crisis_backlog", "Worker messages waiting for assessment")


@functools.cache
def messages_stored(role: str) -> Counter:
    """The per-role child, looked up once: ``labels()`` costs microseconds per message."""
    return MESSAGES_STORED.labels(role=role)


def watch_connections(count: Callable[[str], int]) -> None:
    """`yizhan_connections{role}` is read from the node's socket table at scrape time."""
    for role in ROLES:
        CONNECTIONS.labels(role=role).set_function(functools.partial(count, role))


async def refresh_cluster_gauges(
    pool: asyncpg.Pool, counselors_present: Callable[[], Awaitable[int]], now: dt.datetime,
    service_open: bool,
) -> None:
    """One round of the cluster-wide gauges; a backend that fails is reported down."""
    SERVICE_OPEN.set(1 if service_open else 0)
    try:
        row = await pool.fetchrow(
            "SELECT count(*) AS open, count(*) FILTER (WHERE status = 'open'"
            " AND ack_deadline < $1) AS overdue FROM escalations"
            " WHERE status IN ('open', 'acknowledged')", now)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        BACKEND_UP.labels(backend="postgres").set(0)
    else:
        BACKEND_UP.labels(backend="postgres").set(1)
        ESCALATIONS_OPEN.set(row["open"])
        ESCALATIONS_OVERDUE.set(row["overdue"])
    try:
        present = await counselors_present()
    except Exception:  # any Redis failure: the gauge keeps its last value, the flag drops
        BACKEND_UP.labels(backend="redis").set(0)
    else:
        BACKEND_UP.labels(backend="redis").set(1)
        COUNSELORS_ON_DUTY.set(present)


def serve(host: str, port: int) -> WSGIServer:
    """/metrics on its own listener (a thread), so the app port never exposes it.

    Returns the server (its `server_port` is the port when 0 was asked for)."""
    server, _thread = start_http_server(port, addr=host)
    log.info("metrics listening", extra={"fields": {"host": host, "port": server.server_port}})
    return server
