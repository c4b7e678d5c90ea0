"""The supervisor board in a real browser: a follow-up that falls due is marked done."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from playwright.async_api import expect

from tests import browser as _browser
from tests.browser import PageErrors, desktop, staff_signs_in, tid
from tests.clients import make_staff, matched_pair

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]


async def test_a_due_follow_up_is_marked_done_from_the_board(browser, web) -> None:
    worker, wws, counselor, _cws, conv = await matched_pair(web)
    sup = await make_staff(web, "supervisor")
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "r1",
                    "text": "我不想活了"})
    await wws.expect("ack")
    escalations: list = []
    for _ in range(50):  # the escalation opens right after the ack
        escalations = (await sup.http.get("/api/supervisor/escalations")).json()["escalations"]
        if escalations:
            break
        await asyncio.sleep(0.1)
    resources = (await sup.http.get("/api/referrals/resources")).json()["resources"]
    made = await sup.http.post(f"/api/escalations/{escalations[0]['id']}/referrals",
                               json={"resource_id": resources[0]["id"], "note": ""})
    assert made.status_code == 201, made.text
    # Two days later the 24-hour call is due.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    web.node.clock = lambda: later
    ctx = await desktop(browser, web)
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        await staff_signs_in(page, "/supervisor.html", sup)
        item = tid(page, "followup")
        await expect(item).to_have_count(1)
        await tid(page, "followup-done").click()
        await expect(item).to_have_count(0)
        await expect(tid(page, "followups-empty")).to_be_visible()
        done = await web.node.services.pool.fetchval(
            "SELECT count(*) FROM referral_followups WHERE done_at IS NOT NULL")
        assert done == 1
        errors.assert_clean()
    finally:
        await ctx.close()
    for c in (worker, counselor, sup):
        await c.close()
