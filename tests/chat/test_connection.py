"""One socket's state (chat/connection.py), through the real WebSocket: a catch-up page
that cannot be served closes the socket, so the client reconnects and resumes, instead
of leaving that conversation's stream fetching for good (nothing more would arrive)."""

from __future__ import annotations

import pytest
import websockets

from chat_server.wire.feed import Feed
from chat_server.wire.protocol import CloseCode
from tests.clients import matched_pair


async def test_a_catch_up_page_that_fails_closes_the_socket_and_a_resume_serves_it(
        node, monkeypatch: pytest.MonkeyPatch) -> None:
    worker, wws, counselor, cws, conv = await matched_pair(node)
    await wws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    await wws.expect("synced")
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w-1", "text": "在吗"})
    await wws.expect("ack")
    await cws.expect("message")

    def refused(self: Feed, *_args: object) -> list[object]:
        raise ValueError("a page that cannot be served")

    monkeypatch.setattr(Feed, "page", refused)
    await cws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await cws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.TRY_AGAIN_LATER

    monkeypatch.undo()
    again = await counselor.connect()  # (reads its welcome)
    await again.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    message = await again.expect("message")
    assert message["client_id"] == "w-1" and message["seq"] == 1
    await again.expect("synced")
    await worker.close()
    await counselor.close()
