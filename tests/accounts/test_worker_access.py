"""An ID number is not a secret: history needs a code or the earlier device.

(The adversaries themselves are in tests/test_adversary.py.)
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.clients import Worker, make_staff, matched_pair


async def chat_once(node, worker: Worker) -> str:
    counselor = await make_staff(node)
    cws = await counselor.connect()
    await counselor.on_duty()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched")
    await cws.expect("assigned")
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "h1", "text": "旧事"})
    await wws.expect("ack")
    await wws.send({"type": "end", "conversation_id": conv})
    await wws.expect("ended")
    await counselor.close()
    return conv


async def test_number_alone_cannot_read_history_pin_and_device_can(node) -> None:
    first = Worker(node.base)
    r = await first.sign_in()
    assert r.json()["history_access"] is False  # a brand-new device proves nothing yet
    await chat_once(node, first)
    # The code is drawn by the server and shown once; the worker cannot choose one.
    assert (await first.http.post("/api/worker/pin", json={"pin": "482913"})).status_code == 400
    made = await first.http.post("/api/worker/pin", json={})
    assert made.status_code == 201
    code = made.json()["pin"]

    # A stolen dump alone cannot test guesses: the digest is keyed with the pepper.
    import hashlib

    stored = await node.node.services.pool.fetchval(
        "SELECT pin_digest FROM worker_devices WHERE pin_digest IS NOT NULL")
    assert stored and bytes(stored) not in {
        hashlib.sha256(code.encode()).digest(),
        hashlib.sha256(f"yizhan:pin:{code}".encode()).digest()}

    # Someone else who knows the number, on another device: may chat, may not read.
    stranger = Worker(node.base, number=first.number)
    r = await stranger.sign_in()
    assert r.status_code == 201 and r.json()["history_access"] is False
    assert r.json()["pin_set"] is None  # not even whether a PIN exists
    locked = await stranger.http.get("/api/worker/history")
    assert locked.status_code == 403 and locked.json()["code"] == "history_locked"
    wrong = await stranger.sign_in(pin="00000001" if code != "00000001" else "00000002")
    assert wrong.status_code == 401 and wrong.json()["code"] == "pin_incorrect"
    # A code of the wrong shape cannot match anything: a 400, and no guess counted.
    short = await stranger.sign_in(pin="482913")
    assert short.status_code == 400 and short.json()["field"] == "pin"
    # Making a code needs something bound to a conversation (this device has had none).
    assert (await stranger.http.post("/api/worker/pin", json={})).status_code == 403

    # The worker on a new phone, with the code.
    with_pin = Worker(node.base, number=first.number)
    r = await with_pin.sign_in(pin=code)
    assert r.status_code == 201 and r.json()["history_access"] is True
    history = (await with_pin.http.get("/api/worker/history")).json()["conversations"]
    assert [m["text"] for m in history[0]["messages"]] == ["旧事"]

    # The same browser as before (device cookie), no PIN: history too.
    r = await first.sign_in()
    assert r.json()["history_access"] is True
    assert (await first.http.get("/api/worker/history")).status_code == 200
    for w in (first, stranger, with_pin):
        await w.close()


async def test_pin_guessing_is_limited_per_worker_not_per_sign_in(node) -> None:
    worker = Worker(node.base)
    await worker.sign_in()
    await chat_once(node, worker)
    code = (await worker.http.post("/api/worker/pin", json={})).json()["pin"]
    guesser = Worker(node.base, number=worker.number)
    guesses = [f"{i:08d}" for i in range(1, 9) if f"{i:08d}" != code][:7]
    codes = [(await guesser.sign_in(pin=g)).json()["code"] for g in guesses]
    # Five tries, then a wait that grows (seconds, not an hour: never a lockout).
    assert codes[:5] == ["pin_incorrect"] * 5 and codes[5:] == ["rate_limited"] * 2
    # The real worker can still sign in and chat without the PIN.
    real = Worker(node.base, number=worker.number)
    assert (await real.sign_in()).status_code == 201
    for w in (worker, guesser, real):
        await w.close()


async def test_open_conversation_of_another_session_is_not_taken_over(node) -> None:
    first = Worker(node.base)
    await first.sign_in()
    fws = await first.connect()
    conv = (await first.request_chat())["conversation_id"]
    other = Worker(node.base, number=first.number)
    await other.sign_in()
    ows = await other.connect()
    welcome = ows.frames[0]
    # Not even told that a conversation is open: a session learns only of its own.
    assert welcome["conversation"] is None and welcome["open_elsewhere"] is False
    await ows.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    assert (await ows.expect("error"))["code"] == "not_found"
    await ows.send({"type": "request_chat", "replace": True})
    mine = await ows.expect("queued")
    assert mine["conversation_id"] != conv
    # The first one goes on; the same browser signing in again finds it.
    await first.sign_in()
    again = await first.connect()
    assert again.frames[0]["conversation"]["id"] == conv
    await fws.close()
    await first.close()
    await other.close()


SH = ZoneInfo("Asia/Shanghai")


async def test_no_new_match_after_closing(node_factory) -> None:
    node = await node_factory(open_time=dt.time(10, 0))
    clock = [dt.datetime(2026, 11, 28, 23, 59, 0, tzinfo=SH)]
    node.node.clock = lambda: clock[0]
    worker = Worker(node.base)
    await worker.sign_in()
    wws = await worker.connect()
    await worker.request_chat()
    # 00:00: closed. Nobody new is matched; the waiting worker is told, with hotlines.
    clock[0] = dt.datetime(2026, 11, 29, 0, 0, 0, tzinfo=SH)
    closed = await wws.expect("service_closed", timeout=6)
    assert closed["next_open"].startswith("2026-11-29T10:00")
    assert any(h["phone"] == "12356" for h in closed["hotlines"])
    counselor = await make_staff(node)
    cws = await counselor.connect()
    await cws.send({"type": "duty", "on": True})
    assert (await cws.expect("error"))["code"] == "service_closed"
    await wws.send({"type": "request_chat"})
    assert (await wws.expect("error"))["code"] == "service_closed"
    status = (await worker.http.get("/api/status")).json()
    assert status["open"] is False and status["closes_at"] is None
    await worker.close()
    await counselor.close()


async def test_conversation_in_progress_runs_past_closing(node_factory) -> None:
    node = await node_factory(open_time=dt.time(10, 0))
    clock = [dt.datetime(2026, 11, 28, 23, 59, 59, tzinfo=SH)]
    node.node.clock = lambda: clock[0]
    worker, wws, counselor, cws, conv = await matched_pair(node)
    clock[0] = dt.datetime(2026, 11, 29, 0, 0, 30, tzinfo=SH)
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "late", "text": "还在吗"})
    assert (await wws.expect("ack"))["seq"] == 1
    assert (await cws.expect("message"))["seq"] == 1
    await worker.close()
    await counselor.close()
