"""Booking over HTTP: stations, slots, book/change/cancel, the staff day view, no-shows,
the booked chat that starts with its counselor ahead of the queue, and what a session
holding only the ID number can see of another's bookings (nothing)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from tests.clients import Staff, Worker, make_staff

SH = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 12, 3, 14, 0, tzinfo=SH)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def pin(node: Any, at: dt.datetime = T0) -> Clock:
    clock = Clock(at)
    node.node.clock = clock
    return clock


async def station(node: Any) -> str:
    admin = await make_staff(node, "admin")
    r = await admin.http.post("/api/admin/stations", json={
        "name": "朝阳区职工心灵驿站", "district": "朝阳区", "address": "工人文化宫二层",
        "hours": "周一至周五 9:00–17:00", "directions": "地铁 6 号线，A 口出"})
    assert r.status_code == 201, r.text
    await admin.close()
    return r.json()["id"]


async def publish(c: Staff, start: dt.datetime, minutes: int = 50, mode: str = "online",
                  station_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"starts_at": start.isoformat(),
                            "ends_at": (start + dt.timedelta(minutes=minutes)).isoformat(),
                            "mode": mode}
    if station_id:
        body["station_id"] = station_id
    r = await c.http.post("/api/staff/slots", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_book_change_cancel_and_the_day_view(node) -> None:
    clock = pin(node)
    sid = await station(node)
    c = await make_staff(node)
    online = await publish(c, T0 + dt.timedelta(hours=1))
    in_person = await publish(c, T0 + dt.timedelta(hours=2), mode="in_person", station_id=sid)
    assert in_person["station"]["district"] == "朝阳区"
    r = await c.http.post("/api/staff/slots", json={
        "starts_at": (T0 + dt.timedelta(hours=1, minutes=30)).isoformat(),
        "ends_at": (T0 + dt.timedelta(hours=2, minutes=10)).isoformat(), "mode": "online"})
    assert r.status_code == 409  # overlaps
    w, other = Worker(node.base), Worker(node.base)
    await w.sign_in()
    await other.sign_in()
    slots = (await w.http.get("/api/worker/slots")).json()["slots"]
    assert {s["id"] for s in slots} == {online["id"], in_person["id"]}

    r = await w.http.post("/api/worker/bookings", json={"slot_id": online["id"]})
    assert r.status_code == 201, r.text
    booking = r.json()
    assert booking["status"] == "booked" and booking["slot"]["mode"] == "online"
    r = await other.http.post("/api/worker/bookings", json={"slot_id": online["id"]})
    assert r.status_code == 409 and r.json()["code"] == "slot_taken"
    assert [s["id"] for s in (await other.http.get("/api/worker/slots")).json()["slots"]] == [
        in_person["id"]]

    # Change: the new slot is booked and the old one freed, in one step.
    r = await w.http.put(f"/api/worker/bookings/{booking['id']}",
                         json={"slot_id": in_person["id"]})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["slot"]["id"] == in_person["id"]
    mine = (await w.http.get("/api/worker/bookings")).json()["bookings"]
    assert {(b["slot"]["id"], b["status"]) for b in mine} == {
        (online["id"], "cancelled"), (in_person["id"], "booked")}
    assert (await other.http.post("/api/worker/bookings",
                                  json={"slot_id": online["id"]})).status_code == 201

    day = (await c.http.get("/api/staff/bookings?day=2026-12-03")).json()
    assert day["counts"] == {"booked": 2, "attended": 0, "no_show": 0, "cancelled": 1}
    aliases = {b["alias"] for s in day["slots"] for b in s["bookings"]}
    assert aliases == {w.alias, other.alias}
    assert "number" not in str(day) and w.number not in str(day)

    # Cancel; a cancelled booking cannot be cancelled again.
    assert (await w.http.delete(f"/api/worker/bookings/{changed['id']}")).status_code == 204
    assert (await w.http.delete(f"/api/worker/bookings/{changed['id']}")).status_code == 409

    # The other's online slot passes without them: a no-show for the counselor and in reports.
    clock.at = T0 + dt.timedelta(hours=3)
    day = (await c.http.get("/api/staff/bookings?day=2026-12-03")).json()
    assert day["counts"]["no_show"] == 1 and day["counts"]["cancelled"] == 2
    sup = await make_staff(node, "supervisor")
    assert (await sup.http.get("/api/staff/bookings?day=2026-12-03")).json()["counts"] == \
        day["counts"]
    assert (await w.http.get("/api/staff/bookings")).status_code == 401
    for who in (w, other, c, sup):
        await who.close()


async def test_number_only_session_sees_none_of_anothers_bookings(node) -> None:
    pin(node)
    c = await make_staff(node)
    slot = await publish(c, T0 + dt.timedelta(hours=1))
    owner = Worker(node.base)
    await owner.sign_in()
    bid = (await owner.http.post("/api/worker/bookings", json={"slot_id": slot["id"]})).json()["id"]
    stranger = Worker(node.base, number=owner.number)
    await stranger.sign_in()
    assert (await stranger.http.get("/api/worker/bookings")).json()["bookings"] == []
    assert (await stranger.http.delete(f"/api/worker/bookings/{bid}")).status_code == 404
    later = await publish(c, T0 + dt.timedelta(hours=2))
    r = await stranger.http.put(f"/api/worker/bookings/{bid}", json={"slot_id": later["id"]})
    assert r.status_code == 404
    assert [b["status"] for b in (await owner.http.get("/api/worker/bookings")).json()[
        "bookings"]] == ["booked"]
    for who in (owner, stranger, c):
        await who.close()


async def test_slots_follow_the_roster_and_roles_are_checked(node) -> None:
    pin(node)
    c = await make_staff(node)
    sup = await make_staff(node, "supervisor")
    w = Worker(node.base)
    await w.sign_in()
    r = await sup.http.post("/api/staff/slots", json={})
    assert r.status_code == 403
    r = await w.http.post("/api/admin/stations", json={})
    assert r.status_code == 401
    # With a roster in use, a slot outside the counselor's shifts is refused.
    admin = await make_staff(node, "admin")
    r = await admin.http.post("/api/roster/patterns", json={
        "staff_id": c.id, "weekdays": "mon-fri", "start": "14:00", "end": "18:00"})
    assert r.status_code == 201, r.text
    r = await c.http.post("/api/staff/slots", json={
        "starts_at": (T0 + dt.timedelta(hours=5)).isoformat(),
        "ends_at": (T0 + dt.timedelta(hours=6)).isoformat(), "mode": "online"})
    assert r.status_code == 409 and r.json()["code"] == "not_rostered"
    await publish(c, T0 + dt.timedelta(hours=1))
    for who in (w, c, sup, admin):
        await who.close()


async def test_a_booked_chat_starts_with_its_counselor_ahead_of_the_queue(node) -> None:
    clock = pin(node)
    booked_with = await make_staff(node, capacity=1)
    slot = await publish(booked_with, T0 + dt.timedelta(hours=1))
    wb = Worker(node.base)
    await wb.sign_in()
    assert (await wb.http.post("/api/worker/bookings",
                               json={"slot_id": slot["id"]})).status_code == 201
    clock.at = T0 + dt.timedelta(minutes=55)  # five minutes early is fine

    # The booked counselor is busy with w1 (capacity 1); w2 queues before the booked worker.
    cws = await booked_with.connect()
    await booked_with.on_duty()
    w1 = Worker(node.base)
    await w1.sign_in()
    await w1.connect()
    c1 = (await w1.request_chat())["conversation_id"]
    await cws.expect("assigned")
    w2 = Worker(node.base)
    await w2.sign_in()
    await w2.connect()
    await w2.request_chat()
    wbws = await wb.connect()
    conv = (await wb.request_chat())["conversation_id"]
    # The seat frees (chat ended, note written): the booked worker is next, not w2.
    await cws.send({"type": "end", "conversation_id": c1})
    await cws.expect("ended")
    r = await booked_with.http.put(f"/api/staff/conversations/{c1}/note",
                                   json={"topics": [], "risk_level": "none", "text": ""})
    assert r.status_code == 200, r.text
    matched = await wbws.expect("matched", timeout=8)
    assert matched["conversation_id"] == conv
    assigned = await cws.expect("assigned", timeout=8)
    assert assigned["conversation"]["id"] == conv
    pool = node.node.services.pool
    assert await pool.fetchval("SELECT counselor_id::text FROM conversations WHERE id = $1::uuid",
                               conv) == booked_with.id
    for _ in range(40):  # the sweeper settles it (every 2 s)
        if await pool.fetchval("SELECT status FROM bookings") == "attended":
            break
        await asyncio.sleep(0.1)
    assert await pool.fetchval("SELECT status FROM bookings") == "attended"
    assert await pool.fetchval("SELECT status FROM conversations WHERE id = $1::uuid",
                               w2.conversation_id) == "waiting"
    for who in (w1, w2, wb, booked_with):
        await who.close()


async def test_a_booked_chat_skips_the_counselor_the_queue_would_pick(node) -> None:
    clock = pin(node)
    first = await make_staff(node)
    booked_with = await make_staff(node)
    slot = await publish(booked_with, T0 + dt.timedelta(hours=1))
    wb = Worker(node.base)
    await wb.sign_in()
    await wb.http.post("/api/worker/bookings", json={"slot_id": slot["id"]})
    clock.at = T0 + dt.timedelta(hours=1, minutes=5)
    for c in (first, booked_with):  # `first` has been idle longest: the queue's choice
        await c.connect()
        await c.on_duty()
    wbws = await wb.connect()
    conv = (await wb.request_chat())["conversation_id"]
    if "matched" not in [f.get("type") for f in wbws.frames]:  # it may overtake `queued`
        await wbws.expect("matched")
    assigned = await booked_with.ws.expect("assigned")
    assert assigned["conversation"]["id"] == conv
    # Without a booking, the next worker goes to the queue's choice.
    w = Worker(node.base)
    await w.sign_in()
    await w.connect()
    await w.request_chat()
    await first.ws.expect("assigned")
    for who in (wb, w, first, booked_with):
        await who.close()
