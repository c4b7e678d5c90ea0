"""The supervisor board's reads: seats with load, risk by level, ratings, referrals."""

from __future__ import annotations

from tests.clients import Worker, make_staff


async def matched(node, counselor):
    worker = Worker(node.base)
    await worker.sign_in()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched")
    await counselor.ws.expect("assigned")
    return worker, wws, conv


async def test_board_shows_load_and_risk_and_ratings(node) -> None:
    sup = await make_staff(node, "supervisor")
    await sup.connect()
    counselor = await make_staff(node, capacity=2)
    await counselor.connect()
    await counselor.on_duty()
    w1, ws1, c1 = await matched(node, counselor)
    w2, ws2, c2 = await matched(node, counselor)
    await ws1.send({"type": "send", "conversation_id": c1, "client_id": "r", "text": "我不想活了"})
    await ws1.expect("ack")
    await sup.ws.expect("escalation")

    board = (await sup.http.get("/api/supervisor/board")).json()
    [seat] = board["counselors"]
    assert seat["id"] == counselor.id and seat["load"] == 2 and seat["capacity"] == 2
    assert seat["display_name"] and seat["present"] is True
    assert board["conversations_by_risk"]["high"] + board["conversations_by_risk"][
        "imminent"] == 1
    assert board["conversations_by_risk"]["none"] == 1

    for ws, conv in ((ws1, c1), (ws2, c2)):
        await ws.send({"type": "end", "conversation_id": conv})
        await ws.expect("ended")
    await w1.http.post(f"/api/worker/conversations/{c1}/rating", json={"score": 1})
    await w2.http.post(f"/api/worker/conversations/{c2}/rating", json={"score": 5})
    ratings = (await sup.http.get("/api/supervisor/ratings")).json()
    [person] = ratings["counselors"]
    assert person["id"] == counselor.id and person["count"] == 2
    assert person["average"] == 3.0 and person["low"] == 1
    assert person["weeks"][0]["week"].startswith("20")

    # Workers and counselors cannot read the board.
    assert (await counselor.http.get("/api/supervisor/board")).status_code == 403
    assert (await w1.http.get("/api/supervisor/ratings")).status_code == 401

    escalations = (await sup.http.get("/api/supervisor/escalations")).json()["escalations"]
    esc_id = escalations[0]["id"]
    resources = (await sup.http.get("/api/referrals/resources")).json()["resources"]
    r = await sup.http.post(f"/api/escalations/{esc_id}/referrals",
                            json={"resource_id": resources[0]["id"], "note": ""})
    assert r.status_code == 201, r.text
    listed = (await sup.http.get(f"/api/escalations/{esc_id}/referrals")).json()["referrals"]
    assert [x["status"] for x in listed] == ["proposed"]
    for c in (sup, counselor, w1, w2):
        await c.close()
