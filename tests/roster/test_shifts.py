"""The roster on a running node: HTTP routes, duty through the real WebSocket, draining, CSV."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from chat_server.roster.store import supervisor_of_the_hour
from tests.clients import Staff, Worker, make_staff

TZ = ZoneInfo("Asia/Shanghai")


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=TZ)


@pytest.fixture
async def rnode(node_factory):
    """A node whose duty follows the roster, open 10:00–24:00, clock set by each test."""
    n = await node_factory(duty_requires_roster=True, open_time=dt.time(10, 0))
    n.node.clock = lambda: local(2026, 12, 1, 12)
    return n


async def pattern(sup: Staff, who: Staff, weekdays: str, start: str, end: str) -> dict:
    r = await sup.http.post("/api/roster/patterns", json={
        "staff_id": who.id, "weekdays": weekdays, "start": start, "end": end})
    assert r.status_code == 201, r.text
    return r.json()


async def duty(staff: Staff) -> dict:
    assert staff.ws
    await staff.ws.send({"type": "duty", "on": True})
    while True:
        frame = await staff.ws.recv()
        if frame["type"] in ("duty", "error"):
            return frame


async def test_editing_refuses_overlaps_and_hours(rnode) -> None:
    sup = await make_staff(rnode, "supervisor")
    c = await make_staff(rnode)
    await pattern(sup, c, "mon-fri", "18:00", "24:00")
    r = await sup.http.post("/api/roster/patterns", json={
        "staff_id": c.id, "weekdays": "fri-sat", "start": "20:00", "end": "22:00"})
    assert r.status_code == 400 and r.json()["code"] == "roster_invalid"
    assert "overlaps" in r.json()["detail"]
    r = await sup.http.post("/api/roster/changes", json={
        "staff_id": c.id, "date": "2026-12-05", "kind": "extra", "start": "08:00", "end": "11:00"})
    assert r.status_code == 400 and "outside service hours" in r.json()["detail"]
    # A counselor may read the roster but not edit it.
    r = await c.http.post("/api/roster/patterns", json={
        "staff_id": c.id, "weekdays": "sat", "start": "10:00", "end": "12:00"})
    assert r.status_code == 403
    r = await c.http.get("/api/roster/shifts", params={"from": "2026-12-01", "to": "2026-12-07"})
    assert r.status_code == 200 and len(r.json()["shifts"]) == 5  # Tue–Fri, Mon
    for s in (sup, c):
        await s.close()


async def test_duty_opens_fifteen_minutes_before_a_shift(rnode) -> None:
    sup = await make_staff(rnode, "supervisor")
    c = await make_staff(rnode)
    await pattern(sup, c, "mon-sun", "18:00", "24:00")
    await c.connect()
    rnode.node.clock = lambda: local(2026, 12, 1, 17, 30)
    refused = await duty(c)
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    assert "18:00" in refused["message"]
    rnode.node.clock = lambda: local(2026, 12, 1, 17, 50)
    on = await duty(c)
    assert on["type"] == "duty" and on["on"] is True
    await sup.close()
    await c.close()


async def test_unscheduled_duty_needs_a_supervisors_approval(rnode) -> None:
    sup = await make_staff(rnode, "supervisor")
    c = await make_staff(rnode)
    await c.connect()
    assert (await duty(c))["code"] == "forbidden"
    r = await c.http.post("/api/roster/approvals", json={
        "staff_id": c.id, "until": local(2026, 12, 1, 14).isoformat()})
    assert r.status_code == 403
    r = await sup.http.post("/api/roster/approvals", json={
        "staff_id": c.id, "until": local(2026, 12, 1, 14).isoformat()})
    assert r.status_code == 201, r.text
    assert (await duty(c))["on"] is True
    await sup.close()
    await c.close()


def _days_from_today(days: int) -> dt.date:
    return dt.datetime.now(TZ).date() + dt.timedelta(days=days)


# The drain runs on a fixed date and on dates far from the real one, so a comparison of
# the node's clock with another clock (PostgreSQL's now() was one) fails here at once
# instead of on the day the calendar passes the pinned date. The last one crosses a year
# end on a closed day (a public holiday in YIZHAN_CLOSED_DAYS): chats in progress go on.
DRAIN_DAYS = {
    "fixed": lambda: dt.date(2026, 12, 1),
    "30-days-back": lambda: _days_from_today(-30),
    "400-days-ahead": lambda: _days_from_today(400),
    "year-end-holiday": lambda: dt.date(dt.datetime.now(TZ).year + 1, 12, 31),
}


@pytest.mark.parametrize("when", list(DRAIN_DAYS))
async def test_shift_end_drains_without_cutting_anyone_off(node_factory, when: str) -> None:
    day = DRAIN_DAYS[when]()
    closed = (day + dt.timedelta(days=1),) if when == "year-end-holiday" else ()
    rnode = await node_factory(duty_requires_roster=True, open_time=dt.time(10, 0),
                               closed_days=closed)

    def at(h: int, mi: int = 0, s: int = 0, days: int = 0) -> dt.datetime:
        d = day + dt.timedelta(days=days)
        return dt.datetime(d.year, d.month, d.day, h, mi, s, tzinfo=TZ)

    # Pinned before anyone signs in: sessions expire by the same clock (12 h for staff,
    # so signed in at 17:00 they last past the midnight the holiday case crosses).
    rnode.node.clock = lambda: at(17)
    sup = await make_staff(rnode, "supervisor")
    c = await make_staff(rnode, capacity=3)
    await pattern(sup, c, "mon-sun", "18:00", "20:00")
    rnode.node.clock = lambda: at(19, 50)
    cws = await c.connect()
    assert (await duty(c))["on"] is True
    workers = []
    for _ in range(2):
        w = Worker(rnode.base)
        assert (await w.sign_in()).status_code == 201
        await w.connect()
        await w.request_chat()
        assert w.ws
        await w.ws.expect("matched")
        workers.append(w)

    rnode.node.clock = lambda: at(20, 1)
    await rnode.parts.shifts.sweep()
    drained = await cws.expect("duty", draining=True)
    assert drained["draining"] is True and drained["load"] == 2

    third = Worker(rnode.base)
    assert (await third.sign_in()).status_code == 201
    await third.connect()
    queued = await third.request_chat()
    # Nobody is scheduled after 20:00: the worker is told so, with the hotlines.
    assert queued["no_counselor_scheduled_soon"] is True and queued["hotlines"]
    assert third.ws
    with pytest.raises((AssertionError, TimeoutError)):
        await third.ws.expect("matched", timeout=2.5)

    if closed:  # past midnight into the holiday: intake is closed, the chats go on
        rnode.node.clock = lambda: at(0, 5, days=1)
    for i, w in enumerate(workers):
        assert w.ws
        await w.ws.send({"type": "send", "conversation_id": w.conversation_id,
                         "client_id": f"late{i}", "text": "还在吗"})
        await w.ws.expect("ack", client_id=f"late{i}")
        got = await cws.expect("message", conversation_id=w.conversation_id)
        assert got["text"] == "还在吗"
        await cws.send({"type": "send", "conversation_id": w.conversation_id,
                        "client_id": f"reply{i}", "text": "我在"})
        await w.ws.expect("message", text="我在")
    for w in workers:
        assert w.ws
        await w.ws.send({"type": "end", "conversation_id": w.conversation_id})
        await w.ws.expect("ended")
    ended = rnode.node.now()
    # Still in wrap-up (the case note): the seats stay taken, so the duty stays on.
    rnode.node.clock = lambda: ended + dt.timedelta(seconds=rnode.settings.wrapup_s - 1)
    await rnode.parts.core.sweeps.sweep_wrapups()
    await rnode.parts.shifts.sweep()
    assert [s.load for s in await rnode.node.queue.on_duty()] == [2]
    # Wrap-up over: the seats are given back and the drained counselor goes off duty.
    rnode.node.clock = lambda: ended + dt.timedelta(seconds=rnode.settings.wrapup_s + 1)
    await rnode.parts.core.sweeps.sweep_wrapups()
    await rnode.parts.shifts.sweep()
    off = await cws.expect("duty", on=False)
    assert off["on"] is False
    assert await rnode.node.queue.on_duty() == []
    for x in (*workers, third, c, sup):
        await x.close()


async def test_supervisor_of_the_hour(rnode) -> None:
    admin = await make_staff(rnode, "admin")
    early = await make_staff(rnode, "supervisor")
    late = await make_staff(rnode, "supervisor")
    await pattern(admin, early, "mon-sun", "10:00", "16:00")
    await pattern(admin, late, "mon-sun", "16:30", "24:00")
    pool = rnode.node.services.pool
    assert await supervisor_of_the_hour(pool, local(2026, 12, 1, 11)) == [early.id]
    assert await supervisor_of_the_hour(pool, local(2026, 12, 1, 20)) == [late.id]
    # 16:10 is a gap between shifts: whoever is scheduled in that hour.
    assert await supervisor_of_the_hour(pool, local(2026, 12, 1, 16, 10)) == [late.id]
    r = await admin.http.post("/api/roster/changes", json={
        "staff_id": late.id, "date": "2026-12-02", "kind": "leave"})
    assert r.status_code == 201, r.text
    assert await supervisor_of_the_hour(pool, local(2026, 12, 2, 20)) == []
    for s in (admin, early, late):
        await s.close()


async def test_month_csv_round_trip_changes_exactly_what_was_edited(rnode) -> None:
    sup = await make_staff(rnode, "supervisor", name="sup01")
    a = await make_staff(rnode, name="lin01")
    b = await make_staff(rnode, name="wang01")
    await pattern(sup, a, "mon-fri", "18:00", "24:00")
    await pattern(sup, b, "sat-sun", "10:00", "16:00")
    await pattern(sup, sup, "mon-sun", "14:00", "22:00")
    month = {"from": "2026-12-01", "to": "2026-12-31"}
    outside = {"from": "2026-11-25", "to": "2027-01-06"}
    before_all = (await sup.http.get("/api/roster/shifts", params=outside)).json()["shifts"]
    exported = await sup.http.get("/api/roster/export", params=month)
    assert exported.headers["content-type"].startswith("text/csv")
    text = exported.text.lstrip("\ufeff")
    lines = text.split("\r\n")
    assert lines[0] == "date,username,role,start,end,note"

    same = await sup.http.post("/api/roster/import", params=month, content=text.encode())
    assert same.status_code == 200 and same.json()["days_changed"] == 0

    edited = list(lines)
    i_end = edited.index("2026-12-01,lin01,counselor,18:00,24:00,")
    edited[i_end] = "2026-12-01,lin01,counselor,18:00,22:00,"  # leaves early
    edited.remove("2026-12-05,wang01,counselor,10:00,16:00,")  # day off
    edited.insert(5, "2026-12-09,wang01,counselor,10:00,14:00,换班")  # extra shift
    r = await sup.http.post("/api/roster/import", params=month,
                            content="\r\n".join(edited).encode())
    assert r.status_code == 200, r.text
    assert r.json()["days_changed"] == 3

    again = (await sup.http.get("/api/roster/export", params=month)).text.lstrip("\ufeff")
    expected = sorted(x for x in edited[1:] if x)
    assert sorted(x for x in again.split("\r\n")[1:] if x) == expected
    after_all = (await sup.http.get("/api/roster/shifts", params=outside)).json()["shifts"]
    def key(s: dict) -> tuple:
        return (s["date"], s["username"], s["start"], s["end"])
    gone = {key(s) for s in before_all} - {key(s) for s in after_all}
    new = {key(s) for s in after_all} - {key(s) for s in before_all}
    assert {(g[0], g[1]) for g in gone} == {("2026-12-01", "lin01"), ("2026-12-05", "wang01")}
    assert {(n[0], n[1]) for n in new} == {("2026-12-01", "lin01"), ("2026-12-09", "wang01")}
    for s in (sup, a, b):
        await s.close()


async def test_malformed_csv_changes_nothing(rnode) -> None:
    sup = await make_staff(rnode, "supervisor", name="sup02")
    a = await make_staff(rnode, name="lin02")
    await pattern(sup, a, "mon-fri", "18:00", "24:00")
    month = {"from": "2026-12-01", "to": "2026-12-31"}
    before = (await sup.http.get("/api/roster/export", params=month)).text
    bad = ("date,username,role,start,end,note\r\n"
           "2026-12-01,lin02,counselor,18:00,20:00,\r\n"
           "2026-12-02,lin02,counselor,18:00,27:00,\r\n"
           "2026-12-03,ghost,counselor,18:00,20:00,\r\n")
    r = await sup.http.post("/api/roster/import", params=month, content=bad.encode())
    assert r.status_code == 400 and r.json()["code"] == "roster_invalid"
    assert [e.split(":")[0] for e in r.json()["errors"]] == ["line 3", "line 4"]
    assert (await sup.http.get("/api/roster/export", params=month)).text == before
    await sup.close()
    await a.close()


async def test_coverage_and_today(rnode) -> None:
    sup = await make_staff(rnode, "supervisor")
    c1 = await make_staff(rnode)
    c2 = await make_staff(rnode)
    for c in (c1, c2):
        await pattern(sup, c, "mon-sun", "18:00", "24:00")
    await pattern(sup, sup, "mon-sun", "20:00", "24:00")
    r = await sup.http.get("/api/roster/coverage", params={"date": "2026-12-01", "days": 7})
    body = r.json()
    assert r.status_code == 200 and body["gaps"] == 7 * 10
    assert all(h["gap"] for h in body["hours"][:70]) and not any(
        h["gap"] for h in body["hours"][70:])
    assert body["hours"][0] == {
        "date": "2026-12-01", "hour": "10:00", "counselors": [], "supervisors": [],
        "target": {"counselors": 2, "supervisors": 1},
        "missing": {"counselors": 2, "supervisors": 1}, "gap": True}

    rnode.node.clock = lambda: local(2026, 12, 1, 18, 5)
    await c1.connect()
    assert (await duty(c1))["on"] is True
    today = (await sup.http.get("/api/roster/today")).json()
    assert [s["staff_id"] for s in today["scheduled_not_on_duty"]] == [c2.id]
    assert today["gaps"] == 10
    assert (await c1.http.get("/api/roster/today")).status_code == 403
    for s in (sup, c1, c2):
        await s.close()


async def test_status_accounts_for_the_roster(rnode) -> None:
    sup = await make_staff(rnode, "supervisor")
    c = await make_staff(rnode)
    plain = (await sup.http.get("/api/status")).json()
    assert "no_counselor_scheduled_soon" not in plain  # no roster kept: claim nothing
    await pattern(sup, c, "mon-sun", "10:30", "24:00")
    rnode.node.clock = lambda: local(2026, 12, 1, 10, 0)
    rnode.parts.shifts.invalidate()
    st = (await sup.http.get("/api/status")).json()
    assert st["no_counselor_scheduled_soon"] is False
    assert st["estimated_wait_s"] == 1800  # nobody on duty, a counselor starts at 10:30
    rnode.node.clock = lambda: local(2026, 12, 1, 23, 40)
    rnode.parts.shifts.invalidate()
    st = (await sup.http.get("/api/status")).json()
    assert st["scheduled_until"].startswith("2026-12-02T00:00")
    await sup.close()
    await c.close()


async def test_records_scheduled_versus_actual(rnode) -> None:
    rnode.node.clock = lambda: local(2026, 12, 3, 12)
    sup = await make_staff(rnode, "supervisor", name="sup03")
    c = await make_staff(rnode, name="lin03")
    await pattern(sup, c, "mon-fri", "18:00", "24:00")
    pool = rnode.node.services.pool
    for at, action in ((local(2026, 11, 30, 18), "duty_on"), (local(2026, 11, 30, 22), "duty_off")):
        await pool.execute("INSERT INTO audit_log (actor_staff_id, action, at)"
                           " VALUES ($1::uuid, $2, $3)", c.id, action, at)
    r = await sup.http.get("/api/roster/records", params={"week": "2026-W49"})
    assert r.status_code == 200, r.text
    mine = next(x for x in r.json()["records"] if x["username"] == "lin03")
    assert (mine["scheduled_s"], mine["on_duty_s"], mine["conversations"]) == (
        5 * 6 * 3600, 4 * 3600, 0)
    csv = await sup.http.get("/api/roster/records", params={"week": "2026-W49"},
                             headers={"Accept": "text/csv"})
    assert "lin03,小03,counselor,30.00,4.00,0," in csv.text
    bad = await sup.http.get("/api/roster/records", params={"week": "49"})
    assert bad.status_code == 400
    await sup.close()
    await c.close()


async def test_an_escalation_rings_first_for_the_supervisor_of_the_hour(node_factory) -> None:
    n = await node_factory(open_time=dt.time(10, 0))
    n.node.clock = lambda: local(2026, 12, 1, 20)
    admin = await make_staff(n, "admin")
    on_shift = await make_staff(n, "supervisor")
    off_shift = await make_staff(n, "supervisor")
    await pattern(admin, on_shift, "mon-sun", "16:00", "24:00")
    await pattern(admin, off_shift, "mon-sun", "10:00", "16:00")
    on_ws = await on_shift.connect()
    off_ws = await off_shift.connect()
    counselor = await make_staff(n)
    cws = await counselor.connect()
    await counselor.on_duty()
    worker = Worker(n.base)
    await worker.sign_in()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched")
    await cws.expect("assigned")
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "r1",
                    "text": "我不想活了"})
    first = await on_ws.expect("escalation", timeout=3)
    listed = await off_ws.expect("escalation", timeout=3)
    # Both boards list it; it rings only for the supervisor of the hour.
    assert first["alert_to"] == [on_shift.id] == listed["alert_to"]
    for c in (admin, on_shift, off_shift, counselor, worker):
        await c.close()


async def test_patterns_and_changes_can_be_deleted_by_editors_only(rnode) -> None:
    sup = await make_staff(rnode, "supervisor")
    c = await make_staff(rnode)
    made = await pattern(sup, c, "mon-fri", "18:00", "24:00")
    r = await sup.http.post("/api/roster/changes", json={
        "staff_id": c.id, "date": "2026-12-05", "kind": "extra", "start": "10:00",
        "end": "12:00"})
    assert r.status_code == 201, r.text
    change = r.json()
    for path in (f"/api/roster/patterns/{made['id']}", f"/api/roster/changes/{change['id']}"):
        assert (await c.http.delete(path)).status_code == 403
        assert (await sup.http.delete(path)).status_code == 204
        gone = await sup.http.delete(path)
        assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    shifts = await sup.http.get("/api/roster/shifts", params={"from": "2026-12-01",
                                                               "to": "2026-12-07"})
    assert shifts.json()["shifts"] == []
    for s in (sup, c):
        await s.close()
