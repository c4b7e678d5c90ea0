"""Self-assessments over HTTP: sealed storage, the trend, sharing at match, the crisis path,
and what a session holding only the ID number can see (nothing)."""

from __future__ import annotations

from typing import Any

from tests.clients import Worker, make_staff
from tests.crisis.test_escalation_e2e import assert_worker_safe, drain, supervisor

PHQ9_MILD = [1, 1, 1, 1, 1, 1, 0, 0, 0]  # 6
PHQ9_ITEM9 = [0, 1, 0, 0, 0, 0, 0, 0, 1]  # 2, item 9 = 1


async def submit(w: Worker, scale: str, answers: list[int]) -> Any:
    return await w.http.post("/api/worker/assessments", json={"scale": scale, "answers": answers})


async def test_results_are_sealed_listed_and_banded(node) -> None:
    w = Worker(node.base)
    await w.sign_in()
    r = await submit(w, "phq9", PHQ9_MILD)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["score"], body["band"], body["self_harm"], body["hotlines"]) == (
        6, "mild", False, [])
    assert any(i["url"].startswith("/selfhelp/") for i in body["recommended"])
    assert (await submit(w, "gad7", [3] * 7)).json()["band"] == "severe"
    listed = (await w.http.get("/api/worker/assessments")).json()["assessments"]
    assert [a["scale"] for a in listed] == ["gad7", "phq9"]
    one = (await w.http.get(f"/api/worker/assessments/{body['id']}")).json()
    assert one["answers"] == PHQ9_MILD
    # Nothing of the result is readable in the database.
    row = await node.node.services.pool.fetchrow("SELECT * FROM assessments WHERE id = $1::uuid",
                                                 body["id"])
    assert b'"score"' not in row["ciphertext"] and b"mild" not in row["ciphertext"]
    assert set(row.keys()) >= {"owner_session", "wrapped_key", "nonce"}
    assert "band" not in row.keys() and "score" not in row.keys()
    # Bad input changes nothing.
    for bad in ({"scale": "phq9", "answers": [0] * 8}, {"scale": "bdi", "answers": []},
                {"scale": "phq9", "answers": [0] * 8 + [9]}):
        r = await w.http.post("/api/worker/assessments", json=bad)
        assert r.status_code == 400 and r.json()["code"] == "bad_field"
    assert len((await w.http.get("/api/worker/assessments")).json()["assessments"]) == 2
    scales = (await w.http.get("/api/assessments/scales")).json()["scales"]
    assert [s["id"] for s in scales] == ["phq9", "gad7", "stress"]
    await w.close()


async def test_number_only_session_sees_none_of_anothers_assessments(node) -> None:
    owner = Worker(node.base)
    await owner.sign_in()
    aid = (await submit(owner, "phq9", PHQ9_MILD)).json()["id"]
    await owner.http.put(f"/api/worker/assessments/{aid}", json={"share_next": True})
    stranger = Worker(node.base, number=owner.number)  # the number, no PIN, no device
    r = await stranger.sign_in()
    assert r.json()["history_access"] is False
    assert (await stranger.http.get("/api/worker/assessments")).json() == {"assessments": []}
    for method in ("get", "put"):
        r = await getattr(stranger.http, method)(
            f"/api/worker/assessments/{aid}",
            **({"json": {"share_next": False}} if method == "put" else {}))
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    # Each side sees only what its own possession factors made: the stranger their own
    # result, the owner's phone (a new sign-in with its device) only the owner's.
    mine = (await submit(stranger, "gad7", [0] * 7)).json()["id"]
    got = (await stranger.http.get("/api/worker/assessments")).json()["assessments"]
    assert [a["id"] for a in got] == [mine]
    again = Worker(node.base, number=owner.number)
    again.http.cookies.set("yz_d", owner.http.cookies.get("yz_d"), path="/api/worker")
    assert (await again.sign_in()).json()["history_access"] is True
    got = (await again.http.get("/api/worker/assessments")).json()["assessments"]
    assert [a["id"] for a in got] == [aid]
    # A chat the stranger opens does not carry the owner's shared result to the counselor.
    counselor = await make_staff(node)
    await counselor.connect()
    await counselor.on_duty()
    await stranger.connect()
    conv = (await stranger.request_chat())["conversation_id"]
    await counselor.ws.expect("assigned")
    shared = await counselor.http.get(f"/api/staff/conversations/{conv}/assessments")
    assert shared.status_code == 200 and shared.json() == {"assessments": []}
    for w in (owner, stranger, again, counselor):
        await w.close()


async def test_shared_result_reaches_only_the_counselor_of_the_chat(node) -> None:
    w = Worker(node.base)
    await w.sign_in()
    keep = (await submit(w, "gad7", [1] * 7)).json()["id"]
    share = (await submit(w, "phq9", PHQ9_MILD)).json()["id"]
    r = await w.http.put(f"/api/worker/assessments/{share}", json={"share_next": True})
    assert r.status_code == 200 and r.json()["share_next"] is True
    counselor, other = await make_staff(node), await make_staff(node)
    await counselor.connect()
    await counselor.on_duty()
    await w.connect()
    conv = (await w.request_chat())["conversation_id"]
    await counselor.ws.expect("assigned")
    got = (await counselor.http.get(f"/api/staff/conversations/{conv}/assessments")).json()
    assert [a["id"] for a in got["assessments"]] == [share] and keep != share
    assert got["assessments"][0]["band"] == "mild"
    r = await other.http.get(f"/api/staff/conversations/{conv}/assessments")
    assert r.status_code == 404
    r = await w.http.get(f"/api/staff/conversations/{conv}/assessments")
    assert r.status_code == 401
    audited = await node.node.services.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'read_assessment'")
    assert audited == 1
    for who in (w, counselor, other):
        await who.close()


async def test_item9_shows_hotlines_and_the_next_chat_escalates_in_the_crisis_band(node) -> None:
    sup, sws = await supervisor(node)
    w = Worker(node.base)
    await w.sign_in()
    r = await submit(w, "phq9", PHQ9_ITEM9)
    body = r.json()
    assert body["self_harm"] is True and body["band"] == "minimal"
    assert any(h["phone"] == "12356" for h in body["hotlines"])
    wws = await w.connect()
    conv = (await w.request_chat())["conversation_id"]
    if "hotlines" not in [f.get("type") for f in wws.frames]:  # it may come before `queued`
        await wws.expect("hotlines")
    alert = (await sws.expect("escalation"))["escalation"]
    assert alert["source"] == "screen" and alert["reasons"] == ["assessment_phq9_item9"]
    pool = node.node.services.pool
    assert await pool.fetchval("SELECT band FROM conversations WHERE id = $1::uuid", conv) == 0
    # Used once: a later chat request does not escalate again from the same result.
    assert await pool.fetchval("SELECT count(*) FROM assessment_priority"
                               " WHERE used_by_conversation IS NULL") == 0
    await drain(wws)
    assert_worker_safe(wws)
    for who in (w, sup):
        await who.close()


async def test_item9_while_waiting_escalates_at_once(node) -> None:
    sup, sws = await supervisor(node)
    w = Worker(node.base)
    await w.sign_in()
    wws = await w.connect()
    conv = (await w.request_chat())["conversation_id"]
    assert (await submit(w, "phq9", PHQ9_ITEM9)).status_code == 201
    await wws.expect("hotlines")
    alert = (await sws.expect("escalation"))["escalation"]
    assert alert["conversation_id"] == conv
    for who in (w, sup):
        await who.close()


async def test_item9_of_a_number_only_session_does_not_raise_anothers_chat(node) -> None:
    owner = Worker(node.base)
    await owner.sign_in()
    await owner.connect()
    conv = (await owner.request_chat())["conversation_id"]
    stranger = Worker(node.base, number=owner.number)
    await stranger.sign_in()
    assert (await submit(stranger, "phq9", PHQ9_ITEM9)).status_code == 201
    pool = node.node.services.pool
    assert await pool.fetchval("SELECT band FROM conversations WHERE id = $1::uuid", conv) == 1
    assert await pool.fetchval("SELECT count(*) FROM escalations") == 0
    for who in (owner, stranger):
        await who.close()


async def test_item9_during_a_chat_escalates_that_chat(node) -> None:
    from tests.clients import matched_pair

    sup, sws = await supervisor(node)
    worker, wws, counselor, cws, conv = await matched_pair(node)
    assert (await submit(worker, "phq9", PHQ9_ITEM9)).status_code == 201
    await wws.expect("hotlines")
    alert = (await sws.expect("escalation"))["escalation"]
    assert alert["conversation_id"] == conv and alert["reasons"] == ["assessment_phq9_item9"]
    await cws.expect("risk", conversation_id=conv)
    for who in (worker, counselor, sup):
        await who.close()
