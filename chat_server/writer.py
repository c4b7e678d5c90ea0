"""Group commit: messages arriving together are stored in one PostgreSQL transaction.

Each stored message otherwise costs a transaction of its own (several round trips and a
WAL flush). Senders wait on a future that resolves only after their batch committed, so
"acknowledged means stored" holds exactly as before; batching only shares the cost.
"""

from __future__ import annotations

import asyncio
import logging

from chat_server.conversations import Appended, ConversationStore, NewMessage
from chat_server.periodic import cancel

log = logging.getLogger("yizhan.writer")

Pending = tuple[NewMessage, asyncio.Future[Appended]]


class MessageWriter:
    def __init__(self, store: ConversationStore, *, max_batch: int = 128, workers: int = 4):
        self.store = store
        self.max_batch = max_batch  # bounds one transaction's size and lock time
        self.workers = workers  # batches in flight at once, each on its own connection
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"writer-{i}")
                       for i in range(self.workers)]

    async def stop(self) -> None:
        await cancel(*self._tasks)
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(ConnectionError("server stopping; nothing stored"))

    async def append(self, msg: NewMessage) -> Appended:
        fut: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((msg, fut))
        return await fut

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self.store.append_batch([m for m, _ in batch])
            except asyncio.CancelledError:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(ConnectionError("server stopping"))
                raise
            except Exception as exc:
                log.exception("batch not stored", extra={"fields": {"size": len(batch)}})
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
