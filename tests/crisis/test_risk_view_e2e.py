"""What a counselor is told of a conversation's risk, through real WebSockets: the screen
and the true level at match, the escalation's status as the supervisor acts, the same
after a reload, and the hand-over point (issue 18, item 6)."""

from __future__ import annotations

from typing import Any

from tests.clients import Worker, make_staff
from tests.crisis.test_escalation_e2e import assert_worker_safe, drain, say, supervisor


async def test_screen_level_and_escalation_follow_the_counselor(node: Any) -> None:
    sup, sws = await supervisor(node)
    worker = Worker(node.base)
    await worker.sign_in()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.send({"type": "screen", "answers": {"phq2_1": 2, "phq2_2": 1, "phq9_9": 1}})
    await wws.expect("screened")
    esc_id = (await sws.expect("escalation"))["escalation"]["id"]

    counselor = await make_staff(node)
    cws = await counselor.connect()
    other = await make_staff(node)
    ows = await other.connect()
    await counselor.on_duty()
    view = (await cws.expect("assigned"))["conversation"]
    assert view["risk_level"] == "high"
    assert view["screen"] == {"phq2_1": 2, "phq2_2": 1, "phq9_9": 1, "phq2": 3,
                              "item9_positive": True}
    assert view["escalation"]["id"] == esc_id and view["escalation"]["status"] == "open"
    assert view["escalation"]["reasons"] == ["screen_phq9_item9"]
    assert view["handover_seq"] is None

    # The supervisor acknowledges: the conversation's counselor hears it, no one else.
    await sws.send({"type": "ack", "escalation_id": esc_id})
    await sws.expect("escalation_result")
    status = await cws.expect("escalation_status", conversation_id=conv)
    assert status["status"] == "acknowledged" and status["level"] == "high"
    assert status["escalation_id"] == esc_id and status["realerted"] is False
    await sws.send({"type": "set_level", "escalation_id": esc_id, "level": "imminent",
                    "reason": "x"})
    await sws.expect("escalation_result")
    assert (await cws.expect("escalation_status", level="imminent"))["status"] == "acknowledged"

    # A reload (a new socket) is told the same in its welcome.
    await cws.close()
    cws = await counselor.connect()
    welcome = next(f for f in cws.frames if f.get("type") == "welcome")
    (again,) = welcome["conversations"]
    assert again["risk_level"] == "imminent" and again["screen"]["item9_positive"] is True
    assert again["escalation"]["status"] == "acknowledged"

    await drain(ows)
    assert not [f for f in ows.frames if f.get("type") == "escalation_status"]
    await drain(wws)
    assert_worker_safe(wws)
    for who in (worker, counselor, other, sup):
        await who.close()


async def test_a_hand_over_carries_the_level_and_the_hand_over_point(node_factory) -> None:
    node = await node_factory(presence_ttl_s=2, counselor_grace_s=1)
    first = await make_staff(node)
    fws = await first.connect()
    await first.on_duty()
    worker = Worker(node.base)
    await worker.sign_in()
    wws = await worker.connect()
    conv = (await worker.request_chat())["conversation_id"]
    await wws.expect("matched")
    await fws.expect("assigned")
    await say(wws, conv, "我不想活了，今晚就结束", "w1")
    # Before the counselor's own send: waiting for its ack would read past the badge.
    await fws.expect("risk", conversation_id=conv, timeout=5)
    await say(fws, conv, "我在这里", "c1")

    await fws.close()
    await wws.expect("queued", timeout=10)
    second = await make_staff(node)
    sws = await second.connect()
    await second.on_duty()
    view = (await sws.expect("assigned", timeout=10))["conversation"]
    assert view["handover"] is True
    assert view["risk_level"] == "imminent"
    assert view["escalation"]["level"] == "imminent"
    assert view["handover_seq"] == 2
    assert view["screen"] is None
    await drain(wws)
    assert_worker_safe(wws)
    for who in (worker, second, first):
        await who.close()
