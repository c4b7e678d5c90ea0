"""Fan-out between nodes through Redis pub/sub, and delivery to this node's sockets.

One subscriber connection per node. A channel is subscribed while at least one local
listener needs it. Listeners are callables that must not block (they queue frames for
their socket). If the subscriber connection breaks, messages published meanwhile are
lost to this node: on reconnect every listener is told to catch up from PostgreSQL.

What a node publishes reaches its own listeners at once, in publish order, and goes to
Redis for the other nodes. Redis sends it back too (a subscriber hears every publish on
its channels); the echo is recognised by its origin mark and dropped unparsed. Waiting
for the echo cost a parse and, for a message, a decryption, and added a Redis round trip
to every delivery between two sockets of one node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Callable

import redis.asyncio as aioredis

from chat_queue.keys import (
    conversation_channel,
    device_channel,
    node_channel,
    role_channel,
    session_channel,
    user_channel,
)
from chat_queue.scripts import register_publish_all
from chat_server.periodic import cancel
from chat_server.wire import codec as wire
from chat_server.wire import events
from chat_server.wire.events import EventError, NodeEvent

log = logging.getLogger("yizhan.hub")

# Channel names come from chat_queue/keys.py; named here too for the modules that still
# import them from the hub.
__all__ = ["Hub", "conversation_channel", "device_channel", "role_channel",
           "session_channel", "user_channel"]

# A listener of a channel's events (`subscribe`).
Listener = Callable[[str, NodeEvent], None]

# With nothing to read for this long, the subscriber pings Redis (redis-py's health check).
IDLE_READ_SECONDS = 1.0
# A batch of publishes that failed on the connection is tried this many times in all.
PUBLISH_ATTEMPTS = 3
PUBLISH_RETRY_S = 0.05
# Publishes per script call: a burst's backlog is sent in pieces, not as one long call
# that holds Redis.
PUBLISH_CHUNK = 256
# First key of every published payload: the publishing node, so it can drop its echo.
ORIGIN = "o"


class Hub:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._publish_all = register_publish_all(redis)
        self.node_id = uuid.uuid4().hex[:12]
        # Per channel, its listeners in the order they came (a dict keeps that order).
        self._listeners: dict[str, dict[Listener, None]] = defaultdict(dict)
        self._resync: set[Callable[[], None]] = set()
        self._pubsub: aioredis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._healthy = asyncio.Event()
        # How this node's payloads begin on the wire (orjson keeps key order).
        self._echo = f'{{"{ORIGIN}":"{self.node_id}"'.encode()
        self._last_read = 0.0  # loop time of the subscriber's latest reply
        # Publishes waiting for the next flush, and the future they wait on.
        self._outgoing: list[tuple[str, str]] = []
        self._next_flush: asyncio.Future[None] | None = None
        self._flush_wanted = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hub-reader")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):  # not wait_for: see Dispatcher._match_loop
                await self._healthy.wait()

    async def stop(self) -> None:
        await cancel(self._flusher, self._task)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def publish(self, channel: str, event: NodeEvent) -> None:
        await self.publish_many([(channel, event)])

    async def publish_many(self, items: list[tuple[str, NodeEvent]]) -> None:
        """Publish, sharing one round trip with everything published meanwhile.

        Returns once Redis took the batch (or raises if it failed). One flusher sends the
        batches one after another, so publishes from this node stay in order.
        """
        if not items:
            return
        await asyncio.shield(self._enqueue(items))

    def publish_soon(self, channel: str, event: NodeEvent) -> None:
        """Publish in order with everything else, without waiting for Redis to take it.

        For stored messages: their receivers catch up from PostgreSQL if a publish is
        lost, so the sender need not wait (a failure is logged by the flusher). A
        MessageEvent carries what this node's sockets send in its `opened` field.
        """
        self._enqueue([(channel, event)])

    def _enqueue(self, items: list[tuple[str, NodeEvent]]) -> asyncio.Future[None]:
        for channel, event in items:
            payload = events.encode(event)
            self._outgoing.append((channel, wire.dumps({ORIGIN: self.node_id, **payload})))
        if self._next_flush is None:
            self._next_flush = asyncio.get_running_loop().create_future()
        self._flush_wanted.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="hub-flusher")
        done = self._next_flush
        for channel, event in items:
            self._deliver(channel, event)
        return done

    async def _flush_loop(self) -> None:
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            batch, self._outgoing = self._outgoing, []
            done, self._next_flush = self._next_flush, None
            if not batch or done is None:
                continue
            try:
                await self._send_batch(batch)
            except Exception as exc:
                log.warning("publish failed; receivers will catch up",
                            extra={"fields": {"messages": len(batch)}})
                if not done.done():
                    done.set_exception(exc)
                    done.exception()  # retrieved here: nobody may be waiting any more
            else:
                if not done.done():
                    done.set_result(None)

    async def _send_batch(self, batch: list[tuple[str, str]]) -> None:
        # A lost control event (a match, a duty change) is not caught up like a message:
        # a brief Redis hiccup gets a second and third chance before the batch is given up.
        # A batch cut off half way may so go out twice; receivers drop message events they
        # already have, and the other events are safe to repeat.
        for start in range(0, len(batch), PUBLISH_CHUNK):
            await self._send_chunk([part for item in batch[start:start + PUBLISH_CHUNK]
                                    for part in item])

    async def _send_chunk(self, args: list[str]) -> None:
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                await self._publish_all(args=args)
                return
            except (aioredis.ConnectionError, aioredis.TimeoutError):
                if attempt == PUBLISH_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(PUBLISH_RETRY_S * (attempt + 1))

    async def subscribe(self, channel: str, listener: Listener) -> None:
        """Hand `listener` every event on `channel`, typed, until `unsubscribe`."""
        async with self._lock:
            first = not self._listeners[channel]
            self._listeners[channel][listener] = None
            if first and self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str, listener: Listener) -> None:
        async with self._lock:
            listeners = self._listeners.get(channel)
            if not listeners:
                return
            listeners.pop(listener, None)
            if not listeners:
                del self._listeners[channel]
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(channel)

    def on_resync(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register a callback run after the subscription was lost and restored."""
        self._resync.add(callback)
        return lambda: self._resync.discard(callback)

    async def _subscribe_all(self) -> aioredis.client.PubSub:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        async with self._lock:
            # A private channel keeps the connection subscribed even with no listeners.
            await pubsub.subscribe(node_channel(self.node_id), *self._listeners.keys())
            self._pubsub = pubsub
        return pubsub

    async def _run(self) -> None:
        first = True
        while True:
            try:
                pubsub = await self._subscribe_all()
                self._healthy.set()
                if not first:
                    log.warning("pub/sub restored; asking sockets to catch up")
                    for callback in list(self._resync):
                        callback()
                first = False
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._healthy.clear()
                log.warning("pub/sub connection lost; retrying", exc_info=True)
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                    self._pubsub = None
                await asyncio.sleep(0.5)

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        """Read replies straight off the subscriber connection until it fails.

        ``PubSub.get_message`` wraps every message in a retry layer, a health check and
        parsing for subscribe replies: at thousands of messages a second that was a fifth
        of a node's fan-out CPU. Published messages are handled here; anything else
        (subscribe confirmations, health-check pongs) still goes through redis-py. A
        failed read raises, and ``_run`` subscribes anew and asks sockets to catch up.
        Reads wait without a timeout of their own (one per message, made and cancelled,
        was another 5 % of a busy node's CPU); `_ping_when_idle` keeps the line checked.
        """
        conn = pubsub.connection
        assert conn is not None  # subscribed in _subscribe_all
        loop = asyncio.get_running_loop()
        self._last_read = loop.time()
        pinger = asyncio.create_task(self._ping_when_idle(pubsub), name="hub-pinger")
        try:
            while True:
                reply = await conn.read_response(timeout=math.inf, disconnect_on_error=False,
                                                 push_request=True)
                self._last_read = loop.time()
                if isinstance(reply, list) and len(reply) == 3 and reply[0] in (b"message",
                                                                                "message"):
                    self._dispatch(reply[1], reply[2])
                else:
                    await pubsub.handle_message(reply, ignore_subscribe_messages=True)
        finally:
            await cancel(pinger)

    async def _ping_when_idle(self, pubsub: aioredis.client.PubSub) -> None:
        """With nothing read for IDLE_READ_SECONDS, ping (redis-py's health check, as
        get_message did); if even that cannot be sent, drop the connection so the read
        fails and `_run` subscribes anew."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(IDLE_READ_SECONDS)
            if loop.time() - self._last_read < IDLE_READ_SECONDS:
                continue
            try:
                await pubsub.check_health()  # type: ignore[no-untyped-call]
            except Exception:
                log.warning("pub/sub ping failed; reconnecting")
                if pubsub.connection is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.connection.disconnect(nowait=True)
                return

    def _dispatch(self, channel: str | bytes, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        if data.startswith(self._echo):
            return  # published here: this node's listeners had it at once
        if isinstance(channel, bytes):
            channel = channel.decode()
        try:
            payload = wire.loads(data)
        except (ValueError, TypeError):
            return
        if not isinstance(payload, dict):
            return
        if channel not in self._listeners:
            return  # (unsubscribed meanwhile: not even parsed further)
        payload.pop(ORIGIN, None)
        try:
            event = events.decode(payload)
        except EventError:
            # Said by kind only: an event's contents must never reach a log.
            log.warning("dropped a malformed event")
            return
        self._deliver(channel, event)

    def _deliver(self, channel: str, event: NodeEvent) -> None:
        """Hand one event to the channel's listeners. They share it: the first socket
        that opens a message opens it for the others."""
        listeners = self._listeners.get(channel)
        if not listeners:
            return
        for listener in list(listeners):
            try:
                listener(channel, event)
            except Exception:
                log.exception("listener failed")
