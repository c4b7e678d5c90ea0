"""Where the learned cascade runs: one child process, beside the node's event loop.

In a thread of the node's own process the model took the loop's GIL: each time the loop
let it go for a system call, the model's thread could keep it for the 5 ms switch
interval, and stored msgs/s at saturation fell to 40–60 % of the node without the
learned layer (docs/BENCHMARKS.md, December 4). A child process runs on the other core. A round
crosses as one bytes object of plain tuples, pickled and unpickled on the loop (a few µs
a message): the pool's helper threads then only copy bytes, and hold the GIL for
microseconds, not for the pickling of hundreds of messages.

The child is stateless (rules and weights are packaged files, read once), so one child
serves every node object of a process — the test suite starts hundreds of nodes in one
interpreter and should not pay a spawn for each. If it dies it is started again and the
round runs once more; if this platform cannot start processes, a thread does the work.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from chat_server.crisis.cascade import assess_many
from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.model import default_model
from chat_server.crisis.rule_engine import RulePass
from chat_server.crisis.rule_file import default_rules

log = logging.getLogger("yizhan.crisis")

# (text, the worker's earlier messages) for each message of a round.
Round = Sequence[tuple[str, Sequence[str]]]
T = TypeVar("T")


# How often the child checks that the node that started it is still alive.
PARENT_CHECK_S = 1.0


def _child_started(parent: int) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the node stops the child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A node killed outright (SIGKILL, out of memory) cannot stop its child, and the child
    # waiting for work never noticed: the test suite's killed nodes left one 120 MB
    # orphan each. It leaves as soon as it has been re-parented.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _load() -> int:
    """Read the rule file and the weights in the child (a bad file raises here)."""
    default_rules()
    return len(default_model().thresholds)


# A message on the wire to the child: text, earlier messages, and the send path's rule
# pass as (level, reasons, disarmed) or None; back: (level, reasons).
_Sent = tuple[str, tuple[str, ...], tuple[int, tuple[str, ...], bool] | None]
_Back = tuple[int, tuple[str, ...]]


def _pack(batch: Round, ruled: Sequence[RulePass | None]) -> bytes:
    sent: list[_Sent] = [
        (text, tuple(context),
         None if r is None else (int(r.level), r.reasons, r.disarmed))
        for (text, context), r in zip(batch, ruled, strict=True)]
    return pickle.dumps(sent, pickle.HIGHEST_PROTOCOL)


def _assess(blob: bytes) -> bytes:
    sent: list[_Sent] = pickle.loads(blob)
    passes = [None if r is None else RulePass(Assessment(RiskLevel(r[0]), r[1]), r[2])
              for _, _, r in sent]
    results = assess_many([(text, context) for text, context, _ in sent], ruled=passes)
    back: list[_Back] = [(int(a.level), a.reasons) for a in results]
    return pickle.dumps(back, pickle.HIGHEST_PROTOCOL)


def _unpack(blob: bytes) -> list[Assessment]:
    back: list[_Back] = pickle.loads(blob)
    return [Assessment(RiskLevel(level), reasons) for level, reasons in back]


class Assessor:
    def __init__(self) -> None:
        self._executor: Executor | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def _pool(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = self._new_pool()
            return self._executor

    @staticmethod
    def _new_pool() -> Executor:
        try:
            return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_child_started, initargs=(os.getpid(),))
        except (OSError, NotImplementedError, ImportError):
            # No semaphores or no fork/spawn in some sandboxes: slower, but assessed.
            log.warning("crisis assessor: no child process here; assessing in a thread")
            return ThreadPoolExecutor(1, thread_name_prefix="crisis")

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
                self.restarts += 1
        broken.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._pool()
            try:
                return await loop.run_in_executor(pool, fn)
            except BrokenProcessPool:
                # The child died (killed, out of memory): a new one, and this round again.
                log.error("crisis assessor process died; starting a new one")
                self._replace(pool)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def start(self) -> None:
        """Start the child and load the rules and weights in it, so a bad packaged file
        fails before the service opens and the first message waits for no loading."""
        await self._call(functools.partial(_load))

    async def assess(self, batch: Round,
                     ruled: Sequence[RulePass | None]) -> list[Assessment]:
        return _unpack(await self._call(functools.partial(_assess, _pack(batch, ruled))))

    def pid(self) -> int | None:
        """The child's process id, once started (tests kill it to see a restart)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return next(iter(processes), None)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


@functools.cache
def shared_assessor() -> Assessor:
    """The process's one assessor (closed at interpreter exit by concurrent.futures)."""
    return Assessor()
