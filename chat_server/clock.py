"""The node's one source of time.

Every time the app writes or compares comes from here, passed into SQL as a parameter;
PostgreSQL's `now()` is never used (see docs/DECISIONS.md, "One clock"). Stores and the
node share one `NodeClock`, so a test that pins the node's clock pins every store too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NodeClock:
    """A clock whose source can be replaced while the node runs (tests pin it)."""

    __slots__ = ("source",)

    def __init__(self, source: Clock = system_clock) -> None:
        self.source = source  # the function read on every call

    def __call__(self) -> dt.datetime:
        return self.source()
