"""The self-help library (admin edits, recommendations by result and by counselor) and the
self-service report with small counts shown as "<5"."""

from __future__ import annotations

import datetime as dt

from tests.clients import Worker, make_staff, matched_pair
from tests.selfservice.test_booking import T0, pin
from tests.selfservice.test_open_days import create_event, signed_in


async def test_admin_edits_items_and_results_and_counselors_recommend(node) -> None:
    pin(node)
    admin = await make_staff(node, "admin")
    seeded = (await admin.http.get("/api/admin/library")).json()["items"]
    assert {i["url"] for i in seeded} == {"/selfhelp/breathing.html", "/selfhelp/grounding.html",
                                          "/selfhelp/muscle.html"}
    r = await admin.http.post("/api/admin/library", json={
        "kind": "music", "title": "雨声 · 30 分钟", "url": "https://example.org/rain.mp3",
        "topics": ["sleep"], "suitable": ["phq9:moderate", "gad7:moderate"]})
    assert r.status_code == 201, r.text
    music = r.json()
    for bad in ({"kind": "game", "title": "x", "url": "/a"},
                {"kind": "music", "title": "x", "url": "javascript:alert(1)"},
                {"kind": "music", "title": "x", "url": "http://plain.example"},
                {"kind": "music", "title": "x", "url": "/a", "topics": ["<b>"]}):
        r = await admin.http.post("/api/admin/library", json=bad)
        assert r.status_code == 400, bad
    suits = (await admin.http.get("/api/library?suits=phq9:moderate")).json()["items"]
    assert music["id"] in [i["id"] for i in suits]
    r = await admin.http.put(f"/api/admin/library/{music['id']}", json={**music, "disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert music["id"] not in [i["id"] for i in (await admin.http.get("/api/library")).json()[
        "items"]]

    counselor = await make_staff(node)
    assert (await counselor.http.post("/api/admin/library", json={})).status_code == 403
    worker, _wws, counselor2, _cws, conv = await matched_pair(node)
    r = await counselor2.http.post(f"/api/staff/conversations/{conv}/recommendations",
                                   json={"item_ids": [seeded[0]["id"]]})
    assert r.status_code == 201 and r.json()["added"] == 1
    r = await counselor.http.post(f"/api/staff/conversations/{conv}/recommendations",
                                  json={"item_ids": [seeded[0]["id"]]})
    assert r.status_code == 404  # not this counselor's conversation
    got = (await worker.http.get("/api/worker/recommendations")).json()["items"]
    assert [i["id"] for i in got] == [seeded[0]["id"]]
    stranger = Worker(node.base, number=worker.number)
    await stranger.sign_in()
    assert (await stranger.http.get("/api/worker/recommendations")).json() == {"items": []}
    for who in (admin, counselor, counselor2, worker, stranger):
        await who.close()


async def test_report_counts_with_small_counts_suppressed(node) -> None:
    clock = pin(node)
    ws = await signed_in(node.base, 6)
    for w in ws:
        await w.http.post("/api/worker/assessments",
                          json={"scale": "phq9", "answers": [1, 1, 1, 1, 1, 1, 0, 0, 0]})
    await ws[0].http.post("/api/worker/assessments", json={"scale": "gad7", "answers": [3] * 7})
    eid = await create_event(node, capacity=10, teacher="王老师")
    for w in ws:
        await w.http.post(f"/api/worker/open-days/{eid}/signup")
    clock.at = T0 + dt.timedelta(days=8)
    for w in ws:
        await w.sign_in()
        sid = (await w.http.get("/api/worker/open-day-signups")).json()["signups"][0]["id"]
        r = await w.http.post(f"/api/worker/open-day-signups/{sid}/rating", json={"score": 4})
        assert r.status_code == 201
    sup = await make_staff(node, "supervisor")
    r = await sup.http.get("/api/supervisor/services-report?from=2026-12-01&to=2026-12-31")
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["assessments"] == {"phq9": {"mild": 6}, "gad7": {"severe": "<5"}}
    assert rep["item9_flags"] == "<5"
    event = rep["open_days"][0]
    assert (event["confirmed"], event["fill_rate"], event["ratings"], event["average"]) == (
        6, 0.6, 6, 4.0)
    assert rep["teachers"] == [{"teacher": "王老师", "months": [
        {"month": "2026-12", "ratings": 6, "average": 4.0, "low": "<5"}]}]
    counselor = await make_staff(node)
    assert (await counselor.http.get("/api/supervisor/services-report")).status_code == 403
    assert (await ws[0].http.get("/api/supervisor/services-report")).status_code == 401
    for who in (*ws, sup, counselor):
        await who.close()
