"""Group commit: messages arriving together are stored in one PostgreSQL transaction.

Each stored message otherwise costs a transaction of its own (several round trips and a
WAL flush). Senders wait on a future that resolves only after their batch committed, so
"acknowledged means stored" holds exactly as before; batching only shares the cost.

One batcher by default: measured on two cores, one batch at a time (larger batches, one
WAL flush each) gave lower latency at every load than two or four in flight, which
mostly added commits and event-loop work (docs/BENCHMARKS.md). With more batchers, each
conversation keeps to one of them, so two batches in flight on a node never touch the
same conversation and the store's optimistic write (read, then one checked statement)
only falls back to row locks when another node wrote meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chat_server.chat.store import Appended, ConversationStore, NewMessage
from chat_server.periodic import cancel

log = logging.getLogger("yizhan.writer")

# Called with what was stored, right after the commit, whether or not the sender still
# waits: a socket closed mid-commit cancels its sender, not what must follow a stored
# message (the crisis assessment of a worker's message).
OnStored = Callable[[Appended], None]
Pending = tuple[NewMessage, asyncio.Future[Appended], OnStored | None]


class MessageWriter:
    def __init__(self, store: ConversationStore, *, max_batch: int = 128, workers: int = 1):
        self.store = store
        self.max_batch = max_batch  # bounds one transaction's size and lock time
        # One queue per batcher (`workers`: batches in flight at once, each on its own
        # connection); a conversation always goes to the same one.
        self._queues: list[asyncio.Queue[Pending]] = [asyncio.Queue() for _ in range(workers)]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(q), name=f"writer-{i}")
                       for i, q in enumerate(self._queues)]

    async def stop(self) -> None:
        await cancel(*self._tasks)
        for queue in self._queues:
            while not queue.empty():
                _, fut, _ = queue.get_nowait()
                if not fut.done():
                    fut.set_exception(ConnectionError("server stopping; nothing stored"))

    async def append(self, msg: NewMessage, on_stored: OnStored | None = None) -> Appended:
        fut: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        queue = self._queues[hash(msg.conversation_id) % len(self._queues)]
        queue.put_nowait((msg, fut, on_stored))
        return await fut

    async def _run(self, queue: asyncio.Queue[Pending]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await self.store.append_batch([m for m, _, _ in batch])
            except asyncio.CancelledError:
                for _, fut, _ in batch:
                    if not fut.done():
                        fut.set_exception(ConnectionError("server stopping"))
                raise
            except Exception as exc:
                log.exception("batch not stored", extra={"fields": {"size": len(batch)}})
                for _, fut, _ in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut, on_stored), result in zip(batch, results, strict=True):
                if not isinstance(result, BaseException) and on_stored is not None:
                    try:
                        on_stored(result)
                    except Exception:
                        log.exception("after-store step failed")
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
