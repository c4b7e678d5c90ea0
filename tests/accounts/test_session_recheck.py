"""A socket whose session expired while it was open is closed by the periodic re-check;
sockets with valid sessions stay open. The re-check takes a share of the sessions each
tick, so every socket is covered once in REVALIDATE_EVERY_TICKS ticks."""

from __future__ import annotations

import datetime as dt

import pytest
import websockets

from chat_server.chat.upkeep import REVALIDATE_EVERY_TICKS
from crypto.tokens import hash_token
from tests.clients import Worker


async def test_an_expired_session_is_closed_and_the_others_stay(node) -> None:
    expiring, staying = Worker(node.base), Worker(node.base)
    for worker in (expiring, staying):
        assert (await worker.sign_in()).status_code == 201
    expiring_ws = await expiring.connect()  # (connect waits for the welcome)
    staying_ws = await staying.connect()
    token = expiring.http.cookies.get("yz_w")
    await node.node.services.pool.execute(
        "UPDATE sessions SET expires_at = $2 WHERE token_hash = $1",
        hash_token(token), node.node.now() - dt.timedelta(seconds=1))

    # Twice round: the dispatcher's own tick may take a turn in between.
    for _ in range(2 * REVALIDATE_EVERY_TICKS):
        await node.parts.core.upkeep.revalidate_sessions()

    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await expiring_ws.recv(5)
    assert closed.value.rcvd.code == 4401
    await staying_ws.send({"type": "ping"})
    assert (await staying_ws.expect("pong"))["type"] == "pong"
    await expiring.close()
    await staying.close()
