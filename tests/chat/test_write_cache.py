"""The per-node memory of what its last write left in a conversation's row."""

from __future__ import annotations

from chat_server.chat.write_cache import WriteCache


def _row(conv: str, last_seq: int = 0, encryptions: int = 0) -> dict[str, object]:
    return {"id": conv, "status": "active", "last_seq": last_seq, "encryptions": encryptions}


def test_a_written_row_is_remembered_as_the_write_left_it() -> None:
    cache = WriteCache()
    assert cache.rows(["a"]) is None
    cache.wrote(_row("a", 3, 10), last_seq=5, encrypted=2)
    [row] = cache.rows(["a"]) or []
    assert (row["last_seq"], row["encryptions"], row["status"]) == (5, 12, "active")
    assert cache.rows(["a", "b"]) is None  # all or nothing: one unknown means a read


def test_a_conversation_another_node_writes_to_is_always_read() -> None:
    cache = WriteCache()
    cache.wrote(_row("a", 0), last_seq=1, encrypted=1)
    cache.wrote(_row("b", 0), last_seq=1, encrypted=1)
    cached_last = cache.stale(["a", "b"])
    assert cached_last == {"a": 1, "b": 1} and cache.rows(["a"]) is None
    # Read back: "a" moved on (another node wrote), "b" did not (say it ended).
    cache.read([_row("a", 2), _row("b", 1)], cached_last)
    cache.wrote(_row("a", 2), last_seq=3, encrypted=1)
    cache.wrote(_row("b", 1), last_seq=2, encrypted=1)
    assert cache.rows(["a"]) is None
    assert cache.rows(["b"]) is not None


def test_the_memory_is_bounded_and_forgets_the_oldest() -> None:
    cache = WriteCache(size=2)
    for conv in ("a", "b"):
        cache.wrote(_row(conv), last_seq=1, encrypted=1)
    cache.wrote(_row("a", 1), last_seq=2, encrypted=1)  # "a" is now the newest
    cache.wrote(_row("c"), last_seq=1, encrypted=1)
    assert cache.rows(["b"]) is None
    assert cache.rows(["a", "c"]) is not None
    cache.forget("a")
    assert cache.rows(["a"]) is None
