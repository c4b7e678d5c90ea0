"""Adversarial: a session that knows a worker's ID number — and nothing else (no PIN, no
device) — learns nothing of the assessments, bookings or open-day sign-ups another
session of that worker made, by any route, and cannot change them."""

from __future__ import annotations

import datetime as dt

from tests.clients import Worker, make_staff
from tests.selfservice.test_booking import T0, pin, publish
from tests.selfservice.test_open_days import create_event


async def test_number_only_session_sees_and_changes_nothing_of_anothers(node) -> None:
    pin(node)
    counselor = await make_staff(node)
    slot = await publish(counselor, T0 + dt.timedelta(hours=1))
    spare = await publish(counselor, T0 + dt.timedelta(hours=3))
    eid = await create_event(node, capacity=1)

    owner = Worker(node.base)
    await owner.sign_in()
    aid = (await owner.http.post("/api/worker/assessments", json={
        "scale": "phq9", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 1]})).json()["id"]
    await owner.http.put(f"/api/worker/assessments/{aid}", json={"share_next": True})
    bid = (await owner.http.post("/api/worker/bookings", json={"slot_id": slot["id"]})).json()["id"]
    sid = (await owner.http.post(f"/api/worker/open-days/{eid}/signup")).json()["id"]

    thief = Worker(node.base, number=owner.number)
    r = await thief.sign_in()
    assert r.status_code == 201 and r.json()["history_access"] is False
    h = thief.http
    # Lists: empty, as for a worker who never did anything.
    assert (await h.get("/api/worker/assessments")).json() == {"assessments": []}
    assert (await h.get("/api/worker/bookings")).json()["bookings"] == []
    assert (await h.get("/api/worker/open-day-signups")).json() == {"signups": []}
    assert (await h.get("/api/worker/recommendations")).json() == {"items": []}
    # Ids learned elsewhere: the same 404 as an id that does not exist.
    missing = "00000000-0000-4000-8000-000000000000"
    for path, method, body in (
        ("/api/worker/assessments/{}", "GET", None),
        ("/api/worker/assessments/{}", "PUT", {"share_next": False}),
        ("/api/worker/bookings/{}", "DELETE", None),
        ("/api/worker/bookings/{}", "PUT", {"slot_id": spare["id"]}),
        ("/api/worker/open-day-signups/{}", "DELETE", None),
        ("/api/worker/open-day-signups/{}/rating", "POST", {"score": 1}),
    ):
        real = {"assessments": aid, "bookings": bid, "open-day-signups": sid}[path.split("/")[3]]
        got = [await h.request(method, path.format(x), json=body) for x in (real, missing)]
        assert [g.status_code for g in got] == [404, 404], (method, path)
        assert got[0].json()["code"] == got[1].json()["code"] == "not_found"
    # Nothing changed.
    assert (await owner.http.get(f"/api/worker/assessments/{aid}")).json()["share_next"] is True
    bookings = (await owner.http.get("/api/worker/bookings")).json()["bookings"]
    assert [(b["id"], b["status"]) for b in bookings] == [(bid, "booked")]
    signups = (await owner.http.get("/api/worker/open-day-signups")).json()["signups"]
    assert [(s["id"], s["status"]) for s in signups] == [(sid, "confirmed")]
    # A chat the thief opens does not carry the owner's shared result, nor their priority.
    await counselor.connect()
    await counselor.on_duty()
    await thief.connect()
    conv = (await thief.request_chat())["conversation_id"]
    await counselor.ws.expect("assigned")
    got = await counselor.http.get(f"/api/staff/conversations/{conv}/assessments")
    assert got.json() == {"assessments": []}
    pool = node.node.services.pool
    assert await pool.fetchval("SELECT count(*) FROM escalations") == 0
    assert await pool.fetchval("SELECT band FROM conversations WHERE id = $1::uuid", conv) == 1
    # The thief's own booking attempt on the owner's slot fails like anyone else's.
    r = await h.post("/api/worker/bookings", json={"slot_id": slot["id"]})
    assert r.status_code == 409 and r.json()["code"] == "slot_taken"
    for who in (owner, thief, counselor):
        await who.close()
