"""The learned crisis stage: worker messages are assessed after they are acknowledged.

The send path stores a message with the rules' level (a floor, microseconds) and a
``pending`` risk row, acknowledges it, and hands it here. One background task takes
everything waiting (a round) and runs the cascade (``crisis.assess_many``) in the
assessor's child process (``assessor.py``), then hands the results back to the event loop
(``CrisisService.assessed``).

Limits: a round is at most ``ROUND`` messages (≈ 0.1–0.3 ms each), one hand-off to the
child and one statement; the queue is unbounded in memory but every entry is also a
pending row in PostgreSQL, so a node that dies loses nothing (the sweeper re-reads those
rows); context is the worker's last ``CONTEXT_MESSAGES`` texts seen by this node, for at
most ``CONTEXT_CONVERSATIONS`` conversations (a conversation that moved nodes starts
without).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from chat_server.crisis.assessor import Assessor, shared_assessor
from chat_server.crisis.levels import Assessment
from chat_server.crisis.model import CONTEXT_MESSAGES
from chat_server.crisis.rule_engine import RulePass

log = logging.getLogger("yizhan.crisis")

# At most this many messages per round: one thread hand-off, one statement to settle them.
ROUND = 512
CONTEXT_CONVERSATIONS = 20_000


@dataclass(frozen=True, slots=True)
class Pending:
    conversation_id: str
    seq: int
    text: str
    # The worker's earlier messages, oldest first (the model reads the last two).
    context: tuple[str, ...]
    # time.monotonic() when it was handed over: the assessment delay is measured from here.
    since: float
    # The rules' pass made on the send path, if any: not run again here.
    ruled: RulePass | None = None


Assessed = Callable[[list[tuple[Pending, Assessment]]], Awaitable[None]]


class AssessmentStage:
    def __init__(self, assessed: Assessed, assessor: Assessor | None = None) -> None:
        # Called on the event loop with each batch's results, in order.
        self.assessed = assessed
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        # One child process runs the model, away from the event loop's GIL.
        self.assessor = assessor or shared_assessor()
        # Recent worker texts per conversation, least recently used first.
        self._context: OrderedDict[str, deque[str]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        # (conversation, seq) queued or being assessed here: the sweeper leaves them alone.
        self.held: set[tuple[str, int]] = set()

    def submit(self, conversation_id: str, seq: int, text: str,
               context: Sequence[str] | None = None, ruled: RulePass | None = None) -> None:
        """Queue a stored worker message; never waits. `context` overrides what this node
        saw; `ruled` is the rules' pass on `text` if the send path made it."""
        seen = self._context.get(conversation_id)
        if seen is None:
            seen = self._context[conversation_id] = deque(maxlen=CONTEXT_MESSAGES)
            if len(self._context) > CONTEXT_CONVERSATIONS:
                self._context.popitem(last=False)
        else:
            self._context.move_to_end(conversation_id)
        earlier = tuple(context) if context is not None else tuple(seen)
        seen.append(text)
        self.held.add((conversation_id, seq))
        self._queue.put_nowait(Pending(conversation_id, seq, text, earlier, time.monotonic(),
                                       ruled))

    def forget(self, conversation_id: str) -> None:
        self._context.pop(conversation_id, None)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        """Start the assessor (a bad rule or weights file raises here), then the rounds."""
        await self.assessor.start()
        self._task = asyncio.create_task(self._run(), name="crisis-stage")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def drain(self) -> None:
        """Wait until everything queued so far is assessed and handled (tests, shutdown)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            # Everything waiting, up to ROUND, in one hand-off to the child and one database
            # statement. Hand-offs of 16 made the loop's ready queue the limit at
            # saturation (each waits its turn there): the stage fell seconds behind
            # (docs/BENCHMARKS.md).
            batch = [await self._queue.get()]
            while len(batch) < ROUND and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self.assessor.assess([(p.text, p.context) for p in batch],
                                                     [p.ruled for p in batch])
                await self.assessed(list(zip(batch, results, strict=True)))
            except asyncio.CancelledError:
                raise
            except Exception:
                # The rows stay pending: the sweeper assesses them again.
                log.exception("crisis stage batch failed")
            finally:
                for p in batch:
                    self.held.discard((p.conversation_id, p.seq))
                    self._queue.task_done()
