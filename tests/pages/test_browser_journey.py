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
        await expect(tid(c, "capacity")).to_contain_text("1/2")
        # The counselor takes on a third seat for the evening rush.
        await tid(c, "capacity-select").select_option("3")
        await expect(tid(c, "capacity")).to_contain_text("1/3")
        assert await web.node.services.pool.fetchval(
            "SELECT capacity FROM staff WHERE id = $1::uuid", counselor.id) == 3

        # Both ways.
        await send_text(w, "最近总是睡不好")
        worker_msgs = c.locator('[data-testid="message"][data-from="worker"] .msg-text')
        await expect(worker_msgs).to_have_text(["最近总是睡不好"])
        await expect(w.locator('[data-testid="message"][data-from="worker"]')).to_have_attribute(
            "data-state", "sent")
        await send_text(c, "谢谢你愿意说出来，能多讲讲吗")
        await expect(w.locator('[data-testid="message"][data-from="counselor"] .msg-text')
                     ).to_have_text(["谢谢你愿意说出来，能多讲讲吗"])

        # A crisis message: the board shows the alert with its countdown at once.
        await send_text(w, RISK)
        await expect(worker_msgs).to_have_text(["最近总是睡不好", RISK])
        alert = tid(s, "escalation")
        await expect(alert).to_have_count(1)
        await expect(alert).to_have_attribute("data-level", "imminent")
        await expect(alert).to_have_attribute("data-status", "open")
        await expect(alert.get_by_test_id("ack-countdown")).to_be_visible()
        await expect(tid(s, "escalation-count")).to_have_text("1")
        # The counselor's tab gets the badge; the worker gets the hotlines at once (a sheet
        # and a box in the chat) and nothing about levels.
        await expect(tid(c, "conversation-tab").get_by_test_id("risk-badge")).to_have_attribute(
            "data-risk", "imminent")
        await expect(tid(w, "hotlines-inline")).to_be_visible()
        await expect(tid(w, "hotline-dialog")).to_be_visible()
        await tid(w, "hotline-close").click()
        await expect(tid(w, "hotline-dialog")).to_be_hidden()

        # Acknowledge: the countdown goes, the owner shows.
        await alert.get_by_test_id("esc-ack").click()
        await expect(alert).to_have_attribute("data-status", "acknowledged")
        await expect(alert.get_by_test_id("ack-countdown")).to_have_count(0)
        await expect(alert.get_by_test_id("esc-status")).to_contain_text(
            f"小{sup.username[-2:]}")
        row = await web.node.services.pool.fetchrow(
            "SELECT status, owner_staff_id FROM escalations")
        assert row["status"] == "acknowledged" and str(row["owner_staff_id"]) == sup.id

        # Referral from the directory; the worker sees the card in the chat.
        await alert.get_by_test_id("esc-refer").click()
        dialog = tid(s, "refer-dialog")
        await expect(dialog).to_be_visible()
        choice = tid(s, "refer-directory").locator("li", has_text="12356")
        hotline_name = await choice.locator(".dir-name").inner_text()
        await choice.get_by_test_id("refer-resource").check()
        await tid(s, "refer-note").fill("随时可以打")
        await tid(s, "refer-submit").click()
        await expect(tid(s, "refer-ok")).to_be_visible()
        await expect(tid(s, "refer-made").get_by_test_id("referral")).to_have_count(1)
        card = tid(w, "referral-card")
        await expect(card).to_have_count(1)
        await expect(card.get_by_test_id("referral-name")).to_have_text(hotline_name)
        await expect(card.get_by_test_id("referral-phone")).to_have_attribute("href", "tel:12356")
        await expect(card.get_by_test_id("referral-note")).to_have_text("随时可以打")
        await expect(tid(c, "chat-log").locator('[data-from="system"]')).to_have_count(1)

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
            e.assert_clean()
    finally:
        for ctx in contexts:
            await ctx.close()
        await counselor.close()
        await sup.close()
