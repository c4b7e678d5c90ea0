"""Garbage collection for a server process holding thousands of sockets.

CPython's automatic full collection walks every tracked object. With a thousand chats
open that is hundreds of thousands of objects, and each full collection stopped the
event loop for 50–160 ms, several times a minute while sockets were being opened: every
message in flight at that moment waited (it was most of the benchmark's p99). Almost
everything here is freed by reference counting; cycles are rare (collections found a few
dozen). So the process
- freezes what start-up created (modules, settings, the app: never garbage),
- collects the young generations less often, and
- makes no automatic full collections, running one every FULL_EVERY_S instead.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger("yizhan.gc")

FULL_EVERY_S = 300.0
# Young-generation thresholds: allocations before a gen-0 pass, gen-0 passes per gen-1.
YOUNG = (20_000, 20)
# Gen-1 passes before CPython would consider a full one: never, in practice.
NO_AUTOMATIC_FULL = 1 << 30


def apply() -> threading.Thread:
    """Tune the collector for this process; returns the thread running full collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*YOUNG, NO_AUTOMATIC_FULL)
    thread = threading.Thread(target=_full_collections, name="gc-full", daemon=True)
    thread.start()
    return thread


def _full_collections() -> None:
    while True:
        time.sleep(FULL_EVERY_S)
        started = time.perf_counter()
        found = gc.collect()
        log.info("full collection", extra={"fields": {
            "found": found, "ms": round((time.perf_counter() - started) * 1000, 1)}})
