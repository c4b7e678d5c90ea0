"""Open days over HTTP: sign-up, waiting list, cancellation that promotes, ratings shown to
supervisors per teacher, and the opening-minute race across two nodes."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from tests.clients import Worker, make_staff
from tests.selfservice.test_booking import T0, pin


async def create_event(node: Any, capacity: int, *, teacher: str = "李老师",
                       opens: dt.datetime = T0, starts: dt.datetime | None = None) -> str:
    admin = await make_staff(node, "admin")
    starts = starts or T0 + dt.timedelta(days=7)
    r = await admin.http.post("/api/admin/open-days", json={
        "theme": "睡个好觉：倒班职工的睡眠", "teacher": teacher, "place": "市总工会职工服务中心",
        "starts_at": starts.isoformat(), "ends_at": (starts + dt.timedelta(hours=2)).isoformat(),
        "signup_opens_at": opens.isoformat(), "capacity": capacity})
    assert r.status_code == 201, r.text
    await admin.close()
    return r.json()["id"]


async def signed_in(base: str, n: int) -> list[Worker]:
    workers = [Worker(base) for _ in range(n)]
    for w in workers:
        assert (await w.sign_in()).status_code == 201
    return workers


async def test_waiting_list_promotion_and_ratings(node) -> None:
    clock = pin(node, T0 - dt.timedelta(minutes=1))
    eid = await create_event(node, capacity=2)
    a, b, c, d = await signed_in(node.base, 4)
    r = await a.http.post(f"/api/worker/open-days/{eid}/signup")
    assert r.status_code == 409 and r.json()["code"] == "signup_not_open"
    clock.at = T0
    got = [(await w.http.post(f"/api/worker/open-days/{eid}/signup")).json() for w in (a, b, c, d)]
    assert [g["status"] for g in got] == ["confirmed", "confirmed", "waiting", "waiting"]
    assert [g["position"] for g in got] == [None, None, 1, 2]
    r = await a.http.post(f"/api/worker/open-days/{eid}/signup")
    assert r.status_code == 409 and r.json()["code"] == "already_signed_up"
    listed = (await d.http.get("/api/open-days")).json()["open_days"][0]
    assert (listed["confirmed"], listed["waiting"], listed["capacity"]) == (2, 2, 2)

    # b cancels: c (first on the list) gets the place, d moves up.
    assert (await b.http.delete(f"/api/worker/open-day-signups/{got[1]['id']}")).status_code == 204
    c_now = (await c.http.get("/api/worker/open-day-signups")).json()["signups"][0]
    d_now = (await d.http.get("/api/worker/open-day-signups")).json()["signups"][0]
    assert c_now["status"] == "confirmed" and (d_now["status"], d_now["position"]) == (
        "waiting", 1)
    assert (await b.http.get("/api/worker/open-day-signups")).json()["signups"] == []

    # Ratings: only confirmed places, only after the event, once.
    r = await a.http.post(f"/api/worker/open-day-signups/{got[0]['id']}/rating", json={"score": 5})
    assert r.status_code == 409
    clock.at = T0 + dt.timedelta(days=8)
    for w in (a, d):  # a week later, on the same phones (the device proves possession)
        assert (await w.sign_in()).json()["history_access"] is True
    assert (await a.http.post(f"/api/worker/open-day-signups/{got[0]['id']}/rating",
                              json={"score": 5})).status_code == 201
    assert (await a.http.post(f"/api/worker/open-day-signups/{got[0]['id']}/rating",
                              json={"score": 4})).status_code == 409
    assert (await d.http.post(f"/api/worker/open-day-signups/{d_now['id']}/rating",
                              json={"score": 1})).status_code == 409
    for w in (a, b, c, d):
        await w.close()


async def test_number_only_session_sees_none_of_anothers_signups(node) -> None:
    pin(node)
    eid = await create_event(node, capacity=5)
    owner = Worker(node.base)
    await owner.sign_in()
    sid = (await owner.http.post(f"/api/worker/open-days/{eid}/signup")).json()["id"]
    stranger = Worker(node.base, number=owner.number)
    await stranger.sign_in()
    assert (await stranger.http.get("/api/worker/open-day-signups")).json() == {"signups": []}
    assert (await stranger.http.delete(f"/api/worker/open-day-signups/{sid}")).status_code == 404
    assert (await stranger.http.post(f"/api/worker/open-day-signups/{sid}/rating",
                                     json={"score": 1})).status_code == 404
    # The same worker cannot hold two places under two sessions, but the stranger learns
    # only that this number is already signed up — not when, nor where on the list.
    r = await stranger.http.post(f"/api/worker/open-days/{eid}/signup")
    assert r.status_code == 409 and set(r.json()) >= {"code"} and "position" not in r.json()
    assert len((await owner.http.get("/api/worker/open-day-signups")).json()["signups"]) == 1
    for w in (owner, stranger):
        await w.close()


@pytest.mark.slow
async def test_two_hundred_sign_ups_for_twenty_places_across_two_nodes(node_factory) -> None:
    a = await node_factory(signin_per_minute_per_ip=1000)
    b = await node_factory(signin_per_minute_per_ip=1000)
    for n in (a, b):
        pin(n, T0 - dt.timedelta(seconds=1))
    eid = await create_event(a, capacity=20)
    workers = await signed_in(a.base, 100) + await signed_in(b.base, 100)
    for n in (a, b):
        n.node.clock.at = T0  # the opening minute, on both nodes
    gate = asyncio.Event()

    async def one(w: Worker) -> httpx.Response:
        await gate.wait()
        # Correctness, not speed, is asserted: a loaded two-core machine may take seconds.
        return await w.http.post(f"/api/worker/open-days/{eid}/signup", timeout=60)

    tasks = [asyncio.create_task(one(w)) for w in workers]
    await asyncio.sleep(0.2)
    gate.set()
    answers = await asyncio.gather(*tasks)
    assert sorted({r.status_code for r in answers}) == [201]
    bodies = [r.json() for r in answers]
    statuses = [x["status"] for x in bodies]
    assert statuses.count("confirmed") == 20 and statuses.count("waiting") == 180
    pool = a.node.services.pool
    rows = await pool.fetch("SELECT number, status FROM open_day_signups ORDER BY number")
    assert [r["number"] for r in rows] == list(range(1, 201))  # one number each, no gap
    # Arrival order decides: the first twenty numbers have the places, the rest wait in order.
    assert [r["status"] for r in rows] == ["confirmed"] * 20 + ["waiting"] * 180
    positions = sorted(x["position"] for x in bodies if x["status"] == "waiting")
    assert positions == list(range(1, 181))
    # A cancellation gives the place to number 21.
    mine = next(x for x in bodies if x["status"] == "confirmed")
    owner = workers[bodies.index(mine)]
    r = await owner.http.delete(f"/api/worker/open-day-signups/{mine['id']}")
    assert r.status_code == 204
    promoted = await pool.fetchval("SELECT number FROM open_day_signups WHERE status = 'confirmed'"
                                   " ORDER BY number DESC LIMIT 1")
    assert promoted == 21
    assert await pool.fetchval("SELECT count(*) FROM open_day_signups WHERE status ="
                               " 'confirmed'") == 20
    for w in workers:
        await w.close()
