"""The crisis path end to end through real WebSockets: alerts, ack races, deadlines,
watch/whisper/join, referrals, and what a worker must never see."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import pytest

from chat_server import metrics
from tests.clients import Staff, Worker, WsClient, make_staff

RISK = "我不想活了，今晚就结束"
STAFF_ONLY = {"whisper", "escalation", "risk", "no_supervisor", "escalation_result", "flagged",
              "watching", "whispered", "joined"}


class Clock:
    """An injectable clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


async def chat(node: Any, counselor: Staff | None = None) -> tuple[Worker, WsClient, Staff,
                                                                     WsClient, str]:
    """A worker matched with an on-duty counselor on `node`."""
    counselor = counselor or await make_staff(node)
    cws = await counselor.connect()
    await counselor.on_duty()
    worker = Worker(node.base)
    assert (await worker.sign_in()).status_code == 201
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched")
    await cws.expect("assigned")
    return worker, wws, counselor, cws, conv


async def say(ws: WsClient, conv: str, text: str, client_id: str) -> None:
    await ws.send({"type": "send", "conversation_id": conv, "client_id": client_id, "text": text})
    await ws.expect("ack", client_id=client_id)


async def drain(ws: WsClient, quiet: float = 0.3) -> None:
    """Read everything still on the way, so assertions see every frame received."""
    while True:
        try:
            await ws.recv(quiet)
        except TimeoutError:
            return


def assert_worker_safe(ws: WsClient) -> None:
    for frame in ws.frames:
        assert frame.get("type") not in STAFF_ONLY, frame.get("type")
        text = json.dumps(frame)
        for key in ('"level"', '"reasons"', '"escalation'):
            assert key not in text, frame.get("type")


async def supervisor(node: Any) -> tuple[Staff, WsClient]:
    sup = await make_staff(node, "supervisor")
    return sup, await sup.connect()


async def count(node: Any, sql: str, *args: Any) -> int:
    return await node.node.services.pool.fetchval(sql, *args)


@pytest.mark.slow
async def test_risk_message_alerts_a_supervisor_on_another_node(node_factory) -> None:
    a = await node_factory()
    b = await node_factory()
    sup, sws = await supervisor(b)
    worker, wws, counselor, cws, conv = await chat(a)

    started = time.monotonic()
    await say(wws, conv, RISK, "w1")
    alert = await sws.expect("escalation", timeout=1.0)
    assert time.monotonic() - started < 1.0
    esc = alert["escalation"]
    assert esc["conversation_id"] == conv and esc["level"] == "imminent"
    assert esc["status"] == "open" and alert["opened"] is True
    assert "ideation_explicit" in esc["reasons"]
    badge = await cws.expect("risk", conversation_id=conv)
    assert badge["level"] == "imminent"
    hot = await wws.expect("hotlines")
    assert any(h["phone"] == "12356" for h in hot["hotlines"])

    # A second risky message raises nothing new: still one open escalation.
    await say(wws, conv, "我想自杀", "w2")
    await drain(wws)
    assert await count(a, "SELECT count(*) FROM escalations") == 1
    assert_worker_safe(wws)
    # No words are stored with the level: only rule ids.
    rows = await a.node.services.pool.fetch("SELECT level, rule_ids FROM message_risk")
    assert sorted(r["level"] for r in rows) == [2, 3]
    for who in (worker, counselor, sup):
        await who.close()


@pytest.mark.slow
async def test_two_supervisors_acknowledging_at_once_give_one_owner(node_factory) -> None:
    a = await node_factory()
    b = await node_factory()
    s1, ws1 = await supervisor(a)
    s2, ws2 = await supervisor(b)
    worker, wws, counselor, _cws, conv = await chat(a)
    await say(wws, conv, RISK, "w1")
    esc_id = (await ws1.expect("escalation"))["escalation"]["id"]
    await ws2.expect("escalation")

    await asyncio.gather(ws1.send({"type": "ack", "escalation_id": esc_id, "ref": "a1"}),
                         ws2.send({"type": "ack", "escalation_id": esc_id, "ref": "a2"}))

    async def answer(ws: WsClient, ref: str) -> dict[str, Any]:
        while True:
            frame = await ws.recv()
            if frame.get("ref") == ref:
                return frame

    r1, r2 = await asyncio.gather(answer(ws1, "a1"), answer(ws2, "a2"))
    kinds = sorted([r1["type"], r2["type"]])
    assert kinds == ["error", "escalation_result"], (r1, r2)
    won, lost = (r1, r2) if r1["type"] == "escalation_result" else (r2, r1)
    assert lost["code"] == "conflict"
    assert lost["owner"] == won["escalation"]["owner"]["display_name"]
    owners = await count(a, "SELECT count(DISTINCT owner_staff_id) FROM escalations")
    assert owners == 1
    acks = await count(a, "SELECT count(*) FROM escalation_events WHERE action = 'acknowledged'")
    assert acks == 1
    for who in (worker, counselor, s1, s2):
        await who.close()


async def test_missed_deadline_realerts_everyone(node) -> None:
    clock = Clock()
    node.node.clock = clock
    sup, sws = await supervisor(node)
    worker, wws, counselor, cws, conv = await chat(node)
    other = await make_staff(node)
    ows = await other.connect()
    await say(wws, conv, "我想自杀", "w1")
    alert = (await sws.expect("escalation"))["escalation"]
    assert alert["level"] == "high"
    deadline = dt.datetime.fromisoformat(alert["ack_deadline"])
    opened = dt.datetime.fromisoformat(alert["opened_at"])
    assert (deadline - opened).total_seconds() == node.settings.ack_deadline_s

    before = metrics.ESCALATION_BREACHES._value.get()
    await asyncio.sleep(1.2)
    assert await count(node, "SELECT count(*) FROM escalations WHERE realerted_at IS NOT NULL") == 0
    clock.offset = dt.timedelta(seconds=node.settings.ack_deadline_s + 1)
    again = await sws.expect("escalation", timeout=3, realert=True)
    assert again["escalation"]["realerted"] is True
    # Every counselor is re-alerted too, not only the conversation's own.
    await ows.expect("escalation", timeout=3, realert=True)
    await cws.expect("escalation", timeout=3, realert=True)
    assert metrics.ESCALATION_BREACHES._value.get() == before + 1
    # Once only.
    await asyncio.sleep(1.2)
    assert metrics.ESCALATION_BREACHES._value.get() == before + 1
    await drain(wws)
    assert_worker_safe(wws)
    for who in (worker, counselor, sup, other):
        await who.close()


@pytest.mark.slow
async def test_a_restarted_node_keeps_the_deadline(node_factory) -> None:
    a = await node_factory()
    worker, wws, counselor, cws, conv = await chat(a)
    sup_a, _ = await supervisor(a)
    await say(wws, conv, "我想自杀", "w1")
    await cws.expect("risk")
    assert await count(a, "SELECT count(*) FROM escalations WHERE status = 'open'") == 1
    for who in (worker, counselor, sup_a):
        await who.close()
    await a.stop()

    b = await node_factory()
    clock = Clock()
    b.node.clock = clock
    sup, sws = await supervisor(b)
    board = sws.frames[-1]
    assert board["type"] == "welcome" and len(board["escalations"]) == 1
    clock.offset = dt.timedelta(seconds=b.settings.ack_deadline_s + 1)
    again = await sws.expect("escalation", timeout=3, realert=True)
    assert again["escalation"]["conversation_id"] == conv
    await sup.close()


async def test_referral_lifecycle_and_the_workers_card(node) -> None:
    clock = Clock()
    node.node.clock = clock
    sup, sws = await supervisor(node)
    worker, wws, counselor, cws, conv = await chat(node)
    await say(wws, conv, "我想自杀", "w1")
    esc_id = (await sws.expect("escalation"))["escalation"]["id"]

    listed = await sup.http.get("/api/referrals/resources")
    assert listed.status_code == 200
    resources = listed.json()["resources"]
    assert {"12356", "010-82951332", "800-810-1117", "120", "110"} <= {
        r["phone"] for r in resources}
    assert all(r["verify_before_launch"] for r in resources)
    # A counselor may read the directory but not add to it.
    assert (await counselor.http.post("/api/referrals/resources", json={
        "name": "x", "phone": "1", "kind": "hotline"})).status_code == 403
    added = await sup.http.post("/api/referrals/resources", json={
        "name": "区职工心理服务站", "phone": "010-00000000", "kind": "counseling",
        "hours": "工作日 9-17"})
    assert added.status_code == 201, added.text
    resource = added.json()

    made = await sup.http.post(f"/api/escalations/{esc_id}/referrals",
                               json={"resource_id": resource["id"], "note": "明天上午可以打"})
    assert made.status_code == 201, made.text
    referral = made.json()
    assert referral["status"] == "proposed"
    card = await wws.expect("message", kind="referral")
    assert card["card"] == {"name": "区职工心理服务站", "phone": "010-00000000",
                            "kind": "counseling", "hours": "工作日 9-17", "note": "明天上午可以打"}
    await cws.expect("message", kind="referral")

    clock.offset = dt.timedelta(days=2)
    # Two days on, yesterday's staff session has expired: the supervisor signs in again.
    assert (await sup.http.get("/api/supervisor/followups?due=today")).status_code == 401
    assert (await sup.sign_in()).status_code == 201
    assert (await counselor.sign_in()).status_code == 201
    due = (await sup.http.get("/api/supervisor/followups?due=today")).json()["followups"]
    assert [f["label"] for f in due if f["referral_id"] == referral["id"]] == ["24h"]
    # The supervisor made the 24-hour call: it leaves the list, once.
    done = await sup.http.post(f"/api/supervisor/followups/{due[0]['id']}/done")
    assert done.status_code == 204
    again = await sup.http.post(f"/api/supervisor/followups/{due[0]['id']}/done")
    assert again.status_code == 404
    assert not (await sup.http.get("/api/supervisor/followups?due=today")).json()["followups"]
    assert (await counselor.http.post(f"/api/supervisor/followups/{due[0]['id']}/done")
            ).status_code == 403

    rid = referral["id"]
    bad = await sup.http.post(f"/api/referrals/{rid}/status", json={"status": "completed"})
    assert bad.status_code == 409
    for status in ("accepted", "contacted", "completed"):
        r = await sup.http.post(f"/api/referrals/{rid}/status", json={"status": status})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status and r.json()[f"{status}_at"]
    due = (await sup.http.get("/api/supervisor/followups?due=all")).json()["followups"]
    assert not [f for f in due if f["referral_id"] == rid]
    audit = (await sup.http.get("/api/supervisor/audit")).json()["audit"]
    assert {"referral_proposed", "referral_status"} <= {a["action"] for a in audit}
    for who in (worker, counselor, sup):
        await who.close()


async def test_counselors_see_only_their_own_escalations(node) -> None:
    worker, wws, counselor, cws, conv = await chat(node)
    other = await make_staff(node)
    await say(wws, conv, "我想自杀", "w1")
    await cws.expect("risk")
    mine = (await counselor.http.get("/api/supervisor/escalations")).json()["escalations"]
    assert [e["conversation_id"] for e in mine] == [conv]
    theirs = await other.http.get("/api/supervisor/escalations?status=all")
    assert theirs.status_code == 200 and theirs.json()["escalations"] == []
    assert (await other.http.get("/api/supervisor/audit")).status_code == 403
    assert (await worker.http.get("/api/supervisor/escalations")).status_code == 401
    # Nor flag another's conversation.
    ows = await other.connect()
    await ows.send({"type": "flag", "conversation_id": conv, "level": "high", "reason": "x"})
    assert (await ows.expect("error"))["code"] == "not_found"
    for who in (worker, counselor, other):
        await who.close()


async def test_worker_never_sees_whispers_levels_or_reasons(node) -> None:
    sup, sws = await supervisor(node)
    worker, wws, counselor, cws, conv = await chat(node)
    await say(wws, conv, RISK, "w1")
    esc_id = (await sws.expect("escalation"))["escalation"]["id"]

    # Watching is read-only until the supervisor joins.
    await sws.send({"type": "watch", "conversation_id": conv})
    watching = await sws.expect("watching")
    assert watching["escalation"]["id"] == esc_id
    await sws.send({"type": "send", "conversation_id": conv, "client_id": "s0", "text": "在吗"})
    assert (await sws.expect("error"))["code"] == "forbidden"
    await sws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    assert (await sws.expect("message", seq=1))["from"] == "worker"

    await sws.send({"type": "whisper", "conversation_id": conv, "text": "先问安全计划"})
    await sws.expect("whispered")
    whisper = await cws.expect("whisper", conversation_id=conv)
    assert whisper["text"] == "先问安全计划"
    stored = await node.node.services.pool.fetchval("SELECT ciphertext FROM whispers")
    assert "安全计划".encode() not in stored

    await sws.send({"type": "set_level", "escalation_id": esc_id, "level": "high",
                    "reason": "已确认有人陪同"})
    assert (await sws.expect("escalation_result"))["escalation"]["level"] == "high"
    assert (await cws.expect("risk", level="high"))["conversation_id"] == conv
    await cws.send({"type": "flag", "conversation_id": conv, "level": "imminent",
                    "reason": "提到了具体的药"})
    assert (await cws.expect("flagged"))["escalation_id"] == esc_id
    notes = await node.node.services.pool.fetch(
        "SELECT note_ciphertext FROM escalation_events WHERE note_ciphertext IS NOT NULL")
    assert len(notes) == 2 and all("药".encode() not in n["note_ciphertext"] for n in notes)

    await sws.send({"type": "join", "conversation_id": conv})
    await sws.expect("joined")
    await wws.expect("supervisor_joined")
    await say(sws, conv, "你好，我是值班督导", "s1")
    assert (await wws.expect("message", client_id="s1"))["from"] == "supervisor"
    await sws.send({"type": "resolve", "escalation_id": esc_id, "outcome": "safe_plan"})
    assert (await sws.expect("escalation_result"))["escalation"]["status"] == "resolved"

    await drain(wws)
    assert_worker_safe(wws)
    audit = (await sup.http.get(f"/api/supervisor/audit?conversation_id={conv}")).json()
    actions = {a["action"] for a in audit["audit"]}
    assert {"watch", "whisper", "join", "escalation_set_level", "escalation_resolved"} <= actions
    for who in (worker, counselor, sup):
        await who.close()


async def test_watching_without_an_escalation_needs_a_reason(node) -> None:
    sup, sws = await supervisor(node)
    worker, _wws, counselor, _cws, conv = await chat(node)
    await sws.send({"type": "watch", "conversation_id": conv})
    refused = await sws.expect("error")
    assert refused["code"] == "forbidden" and refused["field"] == "reason"
    await sws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    assert (await sws.expect("error"))["code"] == "not_found"
    await sws.send({"type": "watch", "conversation_id": conv, "reason": "质量抽查"})
    assert (await sws.expect("watching"))["escalation"] is None
    rows = await node.node.services.pool.fetch(
        "SELECT reason FROM audit_log WHERE action = 'watch'")
    assert [r["reason"] for r in rows] == ["质量抽查"]
    for who in (worker, counselor, sup):
        await who.close()


async def test_hyperbole_opens_nothing(node) -> None:
    sup, sws = await supervisor(node)
    worker, wws, counselor, _cws, conv = await chat(node)
    await say(wws, conv, "累死了", "w1")
    await drain(sws, 0.5)
    assert not [f for f in sws.frames if f.get("type") == "escalation"]
    assert await count(node, "SELECT count(*) FROM escalations") == 0
    assert await count(node, "SELECT risk_level FROM conversations") == 0
    for who in (worker, counselor, sup):
        await who.close()


async def test_screen_with_self_harm_raises_band_and_escalates(node) -> None:
    sup, sws = await supervisor(node)
    worker = Worker(node.base)
    await worker.sign_in()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.send({"type": "screen", "answers": {"phq2_1": 2, "phq2_2": 1, "phq9_9": 4}})
    assert (await wws.expect("error"))["field"] == "answers.phq9_9"
    await wws.send({"type": "screen", "answers": {"phq2_1": 2, "phq2_2": 1, "phq9_9": 1}})
    await wws.expect("screened")
    await wws.expect("hotlines")
    alert = (await sws.expect("escalation"))["escalation"]
    assert alert["source"] == "screen" and alert["reasons"] == ["screen_phq9_item9"]
    assert await count(node, "SELECT band FROM conversations WHERE id = $1::uuid", conv) == 0
    await wws.send({"type": "screen", "answers": {"phq2_1": 0, "phq2_2": 0, "phq9_9": 0}})
    assert (await wws.expect("error"))["code"] == "conflict"
    await drain(wws)
    assert_worker_safe(wws)
    for who in (worker, sup):
        await who.close()


async def test_no_supervisor_falls_back_to_every_counselor(node) -> None:
    worker, wws, counselor, cws, conv = await chat(node)
    other = await make_staff(node)
    ows = await other.connect()
    await say(wws, conv, "我想自杀", "w1")
    await cws.expect("no_supervisor", conversation_id=conv)
    alert = await ows.expect("escalation")
    assert alert["no_supervisor"] is True
    for who in (worker, counselor, other):
        await who.close()


async def test_a_risk_signal_survives_a_failure_before_the_alert(node) -> None:
    """The risk level is stored with the message; if opening the escalation fails right
    after, the sweeper opens it from the stored row instead of losing the signal."""
    sup, sws = await supervisor(node)
    worker, wws, counselor, _cws, conv = await chat(node)
    feature = node.parts.crisis
    real = feature.escalate
    failed = []

    async def broken(*args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(True)
            raise ConnectionError("database went away")
        return await real(*args, **kwargs)

    feature.escalate = broken
    try:
        await say(wws, conv, RISK, "w1")  # stored and acknowledged; the alert fails
        alert = await sws.expect("escalation", timeout=10)
    finally:
        feature.escalate = real
    assert failed and alert["escalation"]["conversation_id"] == conv
    assert "recovered" in alert["escalation"]["reasons"]
    left = await count(node, "SELECT count(*) FROM message_risk WHERE handled_at IS NULL")
    assert left == 0
    assert_worker_safe(wws)
    for who in (worker, counselor, sup):
        await who.close()


# The rules see nothing here; only the learned stage, after the ack, finds the risk.
MODEL_ONLY = "这辈子就到这儿吧，钱都转给我妈了"


async def test_the_ack_does_not_wait_for_the_learned_stage(node) -> None:
    """A message the rules miss is acknowledged at once; the escalation follows from the
    background stage, with the learned layer's reason."""
    sup, sws = await supervisor(node)
    worker, wws, counselor, _cws, conv = await chat(node)
    await say(wws, conv, MODEL_ONLY, "w1")
    alert = await sws.expect("escalation", timeout=10)
    assert alert["escalation"]["conversation_id"] == conv
    assert "learned_model" in alert["escalation"]["reasons"]
    assert await count(node, "SELECT count(*) FROM message_risk WHERE pending") == 0
    assert_worker_safe(wws)
    for who in (worker, counselor, sup):
        await who.close()


async def test_a_message_the_stage_never_read_is_assessed_by_the_sweeper(node) -> None:
    """The node stored and acknowledged the message, then lost it before the learned stage
    ran (a crash): the pending row brings it back, the message is read from the record."""
    sup, sws = await supervisor(node)
    worker, wws, counselor, _cws, conv = await chat(node)
    feature = node.parts.crisis
    real = feature.stage.submit
    dropped: list[int] = []
    feature.stage.submit = lambda cid, seq, text, context=None, ruled=None: dropped.append(seq)
    try:
        await say(wws, conv, MODEL_ONLY, "w1")
        assert await count(node, "SELECT count(*) FROM message_risk WHERE pending") == 1
    finally:
        feature.stage.submit = real
    alert = await sws.expect("escalation", timeout=30)
    assert dropped and alert["escalation"]["conversation_id"] == conv
    assert await count(node, "SELECT count(*) FROM message_risk WHERE pending") == 0
    assert_worker_safe(wws)
    for who in (worker, counselor, sup):
        await who.close()


async def test_a_risk_message_sent_as_the_socket_drops_is_assessed_at_once(node) -> None:
    """A phone that loses its connection right after sending: the message is stored and
    assessed live, not left for the sweeper's late recovery (RECOVER_PENDING_AFTER_S)."""
    sup, sws = await supervisor(node)
    worker, wws, counselor, _cws, conv = await chat(node)
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "w1", "text": RISK})
    wws.ws.transport.abort()  # gone at once: no closing handshake
    alert = await sws.expect("escalation", timeout=3)
    assert alert["escalation"]["conversation_id"] == conv
    for who in (worker, counselor, sup):
        await who.close()
