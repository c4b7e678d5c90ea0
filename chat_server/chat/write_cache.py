"""What this node's last write left in each conversation's row, so the next batch for it
can skip reading the row back.

Only a hint: the checked write statement verifies the last seq, status and counselor it
is given under row locks and writes nothing if any moved on, so a stale entry costs an
aborted statement and a fresh read, never a wrong seq. A conversation that turns out to
be written by another node as well (its two sides on different nodes) is remembered as
shared and always read first, so it pays that abort once, not on every message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Row = Mapping[str, Any]

DEFAULT_SIZE = 20_000


class WriteCache:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._rows: dict[str, Row] = {}
        self._shared: dict[str, None] = {}  # insertion-ordered set, oldest first

    def rows(self, conversation_ids: Iterable[str]) -> list[Row] | None:
        """The cached rows of all these conversations, or None if any must be read."""
        out = []
        for c in conversation_ids:
            row = self._rows.get(c)
            if row is None:
                return None
            out.append(row)
        return out

    def wrote(self, row: Row, last_seq: int, encrypted: int) -> None:
        """This node's write to `row`'s conversation committed: its row now reads so."""
        c = str(row["id"])
        if c in self._shared:
            return
        self._rows.pop(c, None)  # re-inserted last: the oldest entry is evicted first
        self._rows[c] = {**row, "last_seq": last_seq,
                         "encryptions": row["encryptions"] + encrypted}
        _trim(self._rows, self.size)

    def stale(self, conversation_ids: Iterable[str]) -> dict[str, int]:
        """A write from these entries was refused: drop them; their last seqs returned
        so the fresh read can tell which conversation another node wrote to."""
        return {c: int(row["last_seq"]) for c in conversation_ids
                if (row := self._rows.pop(c, None)) is not None}

    def read(self, rows: Iterable[Row], cached_last: Mapping[str, int]) -> None:
        """Rows read back after `stale`: a last seq that moved past what this node wrote
        means another node writes there too."""
        for row in rows:
            c = str(row["id"])
            if c in cached_last and int(row["last_seq"]) != cached_last[c]:
                self._shared[c] = None
                _trim(self._shared, self.size)

    def forget(self, conversation_id: str) -> None:
        """The conversation closed or changed hands here: nothing more to write to it."""
        self._rows.pop(conversation_id, None)


def _trim(d: dict[str, Any], size: int) -> None:
    while len(d) > size:
        del d[next(iter(d))]
