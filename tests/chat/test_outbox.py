"""A socket's outbox: frames leave in the order they were queued, a socket that does not
keep up is detected, and closing writes what was queued before stopping."""

from __future__ import annotations

import asyncio

import pytest

from chat_server.chat.outbox import Outbox, OutboxFull


async def test_frames_come_out_in_order_all_that_wait_at_once() -> None:
    box = Outbox(limit=10)
    for i in range(3):
        box.put({"seq": i})
    box.put("encoded")
    assert len(box) == 4
    assert await box.take() == [{"seq": 0}, {"seq": 1}, {"seq": 2}, "encoded"]
    assert len(box) == 0


async def test_a_waiting_writer_wakes_for_the_next_frame() -> None:
    box = Outbox(limit=10)
    taking = asyncio.create_task(box.take())
    await asyncio.sleep(0)
    assert not taking.done()
    box.put("a")
    assert await asyncio.wait_for(taking, 1) == ["a"]


async def test_a_socket_that_does_not_keep_up_fills_its_outbox() -> None:
    box = Outbox(limit=2)
    box.put("a")
    box.put("b")
    with pytest.raises(OutboxFull):
        box.put("c")
    assert await box.take() == ["a", "b"]  # nothing was lost or reordered by the refusal


async def test_closing_writes_what_was_queued_then_stops_even_when_full() -> None:
    box = Outbox(limit=2)
    box.put("a")
    box.put("b")
    box.close()
    box.put("after close")  # dropped: the socket is going away
    assert await box.take() == ["a", "b"]
    assert await box.take() is None


async def test_closing_wakes_a_waiting_writer() -> None:
    box = Outbox(limit=2)
    taking = asyncio.create_task(box.take())
    await asyncio.sleep(0)
    box.close()
    assert await asyncio.wait_for(taking, 1) is None
