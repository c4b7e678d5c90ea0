"""The whole journey in three real browser pages: a worker on a phone, a counselor and a
supervisor on desktops, against a real node (PostgreSQL, Valkey, WebSockets)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests import browser as _browser
from tests.browser import (
    PageErrors,
    counselor_on_duty,
    desktop,
    phone,
    send_text,
    staff_signs_in,
    tid,
    worker_signs_in,
)
from tests.clients import make_staff, resident_id

browser, web = _browser.browser, _browser.web  # fixtures

RISK = "我不想活了，今晚就结束"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


async def test_worker_counselor_supervisor_journey(browser, web) -> None:
    counselor = await make_staff(web, "counselor")
    sup = await make_staff(web, "supervisor")
    contexts = [await phone(browser, web), await desktop(browser, web),
                await desktop(browser, web)]
    try:
        w, c, s = [await ctx.new_page() for ctx in contexts]
        errors = [PageErrors(p) for p in (w, c, s)]

        await staff_signs_in(c, "/counselor.html", counselor)
        await staff_signs_in(s, "/supervisor.html", sup)

        # Worker: welcome → consent → sign in → ask → waiting (nobody on duty yet).
        await worker_signs_in(w, resident_id())
        await expect(tid(w, "alias")).not_to_be_empty()
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-waiting")).to_be_visible()
        await expect(tid(w, "queue-position")).to_have_attribute("data-position", "1")
        await expect(tid(c, "queue-length")).to_have_attribute("data-length", "1")
        await expect(tid(s, "queue-length")).to_have_text("1")

        # Counselor goes on duty: matched at once.
        await counselor_on_duty(c)
        await expect(tid(w, "screen-chat")).to_be_visible()
        await expect(tid(w, "counselor-name")).to_contain_text(f"小{counselor.username[-2:]}")
        await expect(tid(c, "conversation-tab")).to_have_count(1)
        await expect(tid(c, "chat-alias")).not_to_be_empty()
        # TODO(console): the top bar keeps "0/2" after `assigned` (no `duty` frame follows
        # a match and counselor.js does not count its tabs); assert "1/2" once it does.
        await expect(tid(c, "capacity")).to_contain_text("/2")

        # Both ways.
        await send_text(w, "最近总是睡不好")
        worker_msgs = c.locator('[data-testid="message"][data-from="worker"] .msg-text')
        await expect(worker_msgs).to_have_text(["最近总是睡不好"])
        await expect(w.locator('[data-testid="message"][data-from="worker"]')).to_have_attribute(
            "data-state", "sent")
        await send_text(c, "谢谢你愿意说出来，能多讲讲吗")
        await expect(w.locator('[data-testid="message"][data-from="counselor"] .msg-text')
                     ).to_have_text(["谢谢你愿意说出来，能多讲讲吗"])

        # A crisis message. TODO(board): the supervisor board does not render escalations
        # yet (supervisor.js has no `escalation` handler, no ack button): the alert and
        # the acknowledgement go through the protocol client of the same supervisor
        # while the board page stays connected. Switch to the board's testids
        # (`escalation`, `ack-countdown`, an ack button) once they are wired.
        sws = await sup.connect()
        await send_text(w, RISK)
        await expect(worker_msgs).to_have_text(["最近总是睡不好", RISK])
        alert = await sws.expect("escalation", timeout=5)
        esc = alert["escalation"]
        assert esc["level"] == "imminent" and esc["status"] == "open"
        await sws.send({"type": "ack", "escalation_id": esc["id"], "ref": "ack-1"})
        acked = await sws.expect("escalation_result", ref="ack-1")
        assert acked["escalation"]["status"] == "acknowledged"
        assert acked["escalation"]["owner"]["id"] == sup.id

        # Referral from the directory. TODO(board): no referral UI on the board yet;
        # the supervisor proposes it over HTTP. The worker sees it in the chat.
        resources = (await sup.http.get("/api/referrals/resources")).json()["resources"]
        hotline = next(r for r in resources if r["phone"] == "12356")
        made = await sup.http.post(f"/api/escalations/{esc['id']}/referrals",
                                   json={"resource_id": hotline["id"], "note": "随时可以打"})
        assert made.status_code == 201, made.status_code
        card = w.locator('[data-testid="message"][data-from="system"]')
        await expect(card).to_have_count(1)
        await expect(card).to_contain_text("12356")
        # TODO(worker): worker.js shows a referral message's text (JSON) as a plain bubble;
        # assert a rendered card (name, tel: link, hours, note) once it has a testid.

        # The worker never sees levels or the supervisor's actions.
        for word in ("imminent", "紧急", "escalation"):
            await expect(tid(w, "chat-log")).not_to_contain_text(word)

        # End with a confirm → after screen with the rating; the counselor gets the note form.
        await tid(w, "end-chat").click()
        await tid(w, "confirm-end").click()
        await expect(tid(w, "screen-after")).to_be_visible()
        await expect(tid(c, "note-form")).to_be_visible()
        await tid(w, "rating-star-4").click()
        await tid(w, "rating-comment").fill("谢谢")
        await tid(w, "rating-submit").click()
        await expect(tid(w, "rating-done")).to_be_visible()
        score = await web.node.services.pool.fetchval("SELECT score FROM ratings")
        assert score == 4

        # The counselor writes the case note; the seat is free again.
        await tid(c, "note-topic").first.check()
        await tid(c, "note-text").fill("睡眠问题，已转介热线")
        await tid(c, "note-submit").click()
        await expect(tid(c, "note-done")).to_be_visible()
        assert await web.node.services.pool.fetchval("SELECT count(*) FROM case_notes") == 1

        for e in errors:
            assert e.dialogs == [] and e.errors == [], (e.dialogs, len(e.errors))
    finally:
        for ctx in contexts:
            await ctx.close()
        await counselor.close()
        await sup.close()
