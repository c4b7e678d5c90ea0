"""The directory editor's API: validation, edits, disabling, the 90-day stale flag."""

from __future__ import annotations

import datetime as dt

from tests.clients import make_staff

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


async def test_add_edit_verify_disable_and_go_stale(node) -> None:
    node.node.clock = lambda: NOW
    sup = await make_staff(node, "supervisor")
    bad = await sup.http.post("/api/directory", json={"name": "x", "phone": "1",
                                                      "kind": "spa"})
    assert bad.status_code == 400 and bad.json()["field"] == "kind"
    r = await sup.http.post("/api/directory", json={
        "name": "区法律援助中心", "phone": "12348", "kind": "legal", "hours": "工作日",
        "region": "海淀区"})
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["stale"] is False and entry["last_verified_at"].startswith("2026-12-01")
    r = await sup.http.patch(f"/api/directory/{entry['id']}", json={"hours": "每天 9–21"})
    assert r.json()["hours"] == "每天 9–21"
    assert (await sup.http.patch(f"/api/directory/{entry['id']}", json={})).status_code == 400
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await sup.http.post(f"/api/directory/{missing}/verified")).status_code == 404
    assert (await sup.http.patch("/api/directory/nope", json={"hours": ""})).status_code == 404
    # The seeded national numbers were never verified: stale until someone checks.
    listing = (await sup.http.get("/api/directory")).json()
    assert listing["stale"] == len(listing["resources"]) - 1
    assert listing["resources"][-1]["id"] == entry["id"]  # not stale: last
    later = NOW + dt.timedelta(days=91)
    node.node.clock = lambda: later
    assert (await sup.sign_in()).status_code == 201
    listing = (await sup.http.get("/api/directory")).json()
    assert all(e["stale"] for e in listing["resources"])
    r = await sup.http.post(f"/api/directory/{entry['id']}/verified")
    assert r.json()["stale"] is False
    r = await sup.http.patch(f"/api/directory/{entry['id']}", json={"disabled": True})
    assert r.json()["disabled"] is True and r.json()["stale"] is False
    # Counselors refer from the same table; a disabled entry is gone from their list.
    names = [x["name"] for x in (await sup.http.get("/api/referrals/resources")).json()
             ["resources"]]
    assert "区法律援助中心" not in names
    audited = await node.node.services.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'directory_%'")
    assert audited == 4  # added, edited, verified, disabled
    await sup.close()
