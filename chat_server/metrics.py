"""Prometheus metrics. Labels carry roles and codes, never identities or text."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_STORED = Counter("yizhan_messages_stored_total", "Messages stored", ["role"])
STORE_SECONDS = Histogram(
    "yizhan_message_store_seconds", "Receive to stored, acknowledged and queued for fan-out",
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

# From acknowledgement to the learned stage's level recorded (and, for high, the
# escalation opened): the crisis stage runs after the ack (chat_server/crisis_stage.py).
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
