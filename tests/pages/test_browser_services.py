"""The self-service pages in a real browser on a phone: PHQ-9 reports on both sides of each
cut-off, item 9 raising an escalation and showing the hotlines, booking (book, change,
cancel), and a booked session that starts with the right counselor."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests import browser as _browser
from tests.browser import (
    PageErrors,
    counselor_on_duty,
    desktop,
    phone,
    staff_signs_in,
    tid,
    worker_signs_in,
)
from tests.clients import make_staff, resident_id
from tests.conftest import RunningNode
from tests.selfservice.test_booking import T0, pin, publish

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# (score, band shown) on both sides of every published PHQ-9 cut-off: 5, 10, 15, 20.
PHQ9_CASES = [(4, "minimal", "没有或极轻"), (5, "mild", "轻度"), (9, "mild", "轻度"),
              (10, "moderate", "中度"), (14, "moderate", "中度"),
              (15, "moderately_severe", "中重度"), (19, "moderately_severe", "中重度"),
              (20, "severe", "重度")]


def answers_for(total: int) -> list[int]:
    """Nine answers summing to `total`, item 9 at 0."""
    out = []
    for _ in range(8):
        take = min(3, total)
        out.append(take)
        total -= take
    assert total == 0
    return [*out, 0]


async def take_phq9(page: Page, answers: list[int]) -> None:
    await tid(page, "scale-phq9").click()
    for i, value in enumerate(answers):
        await expect(tid(page, "q-progress")).to_have_text(
            re.compile(rf"^(第 {i + 1} / 9 题|Question {i + 1} of 9)$"))
        await tid(page, f"opt-{value}").click()
    await expect(tid(page, "screen-report")).to_be_visible()


async def signed_in_phone(browser: Browser, node: RunningNode) -> tuple[Any, Page, PageErrors]:
    ctx = await phone(browser, node)
    page = await ctx.new_page()
    errors = PageErrors(page)
    await worker_signs_in(page, resident_id())
    return ctx, page, errors


async def test_phq9_reports_on_both_sides_of_each_cut_off(browser, web) -> None:
    pin(web)
    ctx, page, errors = await signed_in_phone(browser, web)
    try:
        await tid(page, "more-services").get_by_test_id("service-assess").click()
        await expect(tid(page, "screen-pick")).to_be_visible()
        for score, band, words in PHQ9_CASES:
            await take_phq9(page, answers_for(score))
            await expect(tid(page, "report-score")).to_have_text(f"{score} 分（满分 27）")
            await expect(tid(page, "report-band")).to_have_attribute("data-band", band)
            await expect(tid(page, "report-band")).to_contain_text(words)
            await expect(tid(page, "report-crisis")).to_be_hidden()
            await expect(tid(page, "report-means")).not_to_be_empty()
            await expect(tid(page, "screen-report")).to_contain_text("不是诊断")
            await expect(tid(page, "next-book")).to_have_attribute("href", "/booking.html")
            await expect(tid(page, "report-items").get_by_test_id("library-item").first
                         ).to_be_visible()
            await tid(page, "back-to-list").click()
        # The trend lists every result, oldest first.
        await tid(page, "open-trend").click()
        rows = tid(page, "trend-row")
        await expect(rows).to_have_count(len(PHQ9_CASES))
        assert [await r.get_attribute("data-band") for r in await rows.all()] == [
            band for _, band, _ in PHQ9_CASES]
        # English toggle: the report speaks English too.
        await tid(page, "trend-back").click()
        await tid(page, "lang-toggle").click()
        await take_phq9(page, answers_for(10))
        await expect(tid(page, "report-band")).to_contain_text("Moderate depression")
        stored = await web.node.services.pool.fetchval("SELECT count(*) FROM assessments")
        assert stored == len(PHQ9_CASES) + 1
        errors.assert_clean()
    finally:
        await ctx.close()


async def test_item9_shows_hotlines_and_the_chat_request_escalates(browser, web) -> None:
    pin(web)
    sup = await make_staff(web, "supervisor")
    sws = await sup.connect()
    ctx, page, errors = await signed_in_phone(browser, web)
    try:
        await page.goto("/assess.html?scale=phq9")
        for value in (1, 1, 0, 0, 0, 0, 0, 0, 1):
            await tid(page, f"opt-{value}").click()
        crisis = tid(page, "report-crisis")
        await expect(crisis).to_be_visible()
        await expect(crisis).to_contain_text("谢谢你愿意说出来")
        lines = crisis.get_by_test_id("hotline")
        assert await lines.count() >= 3
        await expect(lines.first).to_have_attribute("href", "tel:12356")
        await expect(crisis).to_be_focused()
        # "Talk to a counselor now": the request enters the crisis band and escalates.
        await tid(page, "crisis-chat").click()
        await expect(tid(page, "screen-ready")).to_be_visible()
        await tid(page, "request-chat").click()
        await expect(tid(page, "screen-waiting")).to_be_visible()
        alert = (await sws.expect("escalation", timeout=8))["escalation"]
        assert alert["source"] == "screen" and alert["reasons"] == ["assessment_phq9_item9"]
        band = await web.node.services.pool.fetchval(
            "SELECT band FROM conversations WHERE id = $1::uuid", alert["conversation_id"])
        assert band == 0
        await expect(tid(page, "screen-waiting").get_by_test_id("hotline").first).to_be_visible()
        errors.assert_clean()
    finally:
        await ctx.close()
        await sup.close()


async def test_book_change_and_cancel_a_slot(browser, web) -> None:
    pin(web)
    counselor = await make_staff(web, name="counselorbk")
    admin = await make_staff(web, "admin")
    sid = (await admin.http.post("/api/admin/stations", json={
        "name": "海淀区职工心灵驿站", "district": "海淀区", "address": "中关村大街 1 号",
        "hours": "周一至周五 9:00–17:00", "directions": "4 号线，B 口出"})).json()["id"]
    first = await publish(counselor, T0 + dt.timedelta(days=1))
    second = await publish(counselor, T0 + dt.timedelta(days=1, hours=2), mode="in_person",
                           station_id=sid)
    ctx, page, errors = await signed_in_phone(browser, web)
    try:
        await tid(page, "more-services").get_by_test_id("service-booking").click()
        slots = tid(page, "slot")
        await expect(slots).to_have_count(2)
        await expect(tid(page, "no-bookings")).to_be_visible()
        await page.locator(f'[data-slot="{first["id"]}"]').get_by_test_id("slot-book").click()
        booking = tid(page, "booking")
        await expect(booking).to_have_count(1)
        await expect(booking).to_have_attribute("data-slot", first["id"])
        await expect(booking.get_by_test_id("booking-status")).to_have_text("已预约")
        await expect(tid(page, "booking-flash")).to_contain_text("预约好了")
        await expect(slots).to_have_count(1)

        # Change to the in-person slot: the station's address and directions are shown.
        await tid(page, "booking-change").click()
        await expect(tid(page, "change-banner")).to_be_visible()
        await page.locator(f'[data-slot="{second["id"]}"]').get_by_test_id("slot-book").click()
        await expect(tid(page, "booking-flash")).to_contain_text("时间改好了")
        live = page.locator('[data-testid="booking"][data-status="booked"]')
        await expect(live).to_have_attribute("data-slot", second["id"])
        await expect(live).to_contain_text("中关村大街 1 号")
        await expect(live).to_contain_text("4 号线，B 口出")
        await expect(page.locator('[data-testid="booking"][data-status="cancelled"]')
                     ).to_have_count(1)
        await expect(slots).to_have_count(1)  # the first slot is free again

        # Cancel, with a confirm step on the page (no browser dialog).
        await live.get_by_test_id("booking-cancel").click()
        await tid(page, "booking-cancel-confirm").click()
        await expect(tid(page, "booking-flash")).to_contain_text("已取消")
        await expect(page.locator('[data-testid="booking"][data-status="booked"]')
                     ).to_have_count(0)
        await expect(slots).to_have_count(2)
        rows = await web.node.services.pool.fetch("SELECT status FROM bookings")
        assert sorted(r["status"] for r in rows) == ["cancelled", "cancelled"]
        errors.assert_clean()
    finally:
        await ctx.close()
        await counselor.close()
        await admin.close()


async def test_a_booked_session_starts_with_the_right_counselor(browser, web) -> None:
    clock = pin(web)
    other = await make_staff(web, name="counselorqueue")
    booked = await make_staff(web, name="counselorbooked")
    slot = await publish(booked, T0 + dt.timedelta(hours=1))
    ctx, page, errors = await signed_in_phone(browser, web)
    consoles = []
    try:
        await page.goto("/booking.html")
        await page.locator(f'[data-slot="{slot["id"]}"]').get_by_test_id("slot-book").click()
        await expect(tid(page, "booking")).to_have_attribute("data-status", "booked")
        # Reminded in the page, by the server's clock (the phone's may be wrong).
        clock.at = T0 + dt.timedelta(minutes=35)
        await page.reload()
        await expect(tid(page, "booking-reminder")).to_contain_text("今天 15:00 开始")
        clock.at = T0 + dt.timedelta(minutes=58)
        await page.reload()
        await expect(tid(page, "booking-reminder")).to_contain_text("现在可以开始了")
        await expect(tid(page, "reminder-start")).to_have_attribute("href", "/")
        # Both counselors on duty; `other` first, so the queue alone would choose them.
        for staff in (other, booked):
            cctx = await desktop(browser, web)
            consoles.append(cctx)
            cpage = await cctx.new_page()
            await staff_signs_in(cpage, "/counselor.html", staff)
            await counselor_on_duty(cpage)
            await asyncio.sleep(0.05)
        booked_console = consoles[1].pages[0]
        await page.goto("/")
        await expect(tid(page, "screen-ready")).to_be_visible()
        await tid(page, "request-chat").click()
        await expect(tid(page, "screen-chat")).to_be_visible()
        await expect(tid(page, "counselor-name")).to_contain_text("小ed")  # "counselorbooked"
        await expect(tid(booked_console, "chat-alias")).not_to_be_empty()
        conv = await web.node.services.pool.fetchrow(
            "SELECT counselor_id::text AS c FROM conversations WHERE status = 'active'")
        assert conv["c"] == booked.id
        for _ in range(40):
            if await web.node.services.pool.fetchval("SELECT status FROM bookings") == "attended":
                break
            await asyncio.sleep(0.1)
        assert await web.node.services.pool.fetchval("SELECT status FROM bookings") == "attended"
        errors.assert_clean()
    finally:
        await ctx.close()
        for c in consoles:
            await c.close()
        await other.close()
        await booked.close()


async def test_a_shared_result_reaches_the_console_and_the_counselor_recommends(
        browser, web) -> None:
    pin(web)
    counselor = await make_staff(web, name="counselorshare")
    ctx, page, errors = await signed_in_phone(browser, web)
    cctx = await desktop(browser, web)
    try:
        c = await cctx.new_page()
        cerrors = PageErrors(c)
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        await page.goto("/assess.html?scale=phq9")
        for value in answers_for(11):
            await tid(page, f"opt-{value}").click()
        await expect(tid(page, "report-band")).to_have_attribute("data-band", "moderate")
        await tid(page, "share-toggle").check()
        await expect(tid(page, "share-saved")).to_be_visible()
        await page.goto("/")
        await tid(page, "request-chat").click()
        await expect(tid(page, "screen-chat")).to_be_visible()
        shared = tid(c, "shared-assessment")
        await expect(shared).to_have_count(1)
        await expect(shared).to_have_attribute("data-band", "moderate")
        await expect(shared).to_contain_text("11")

        await tid(page, "end-chat").click()
        await tid(page, "confirm-end").click()
        await expect(tid(c, "note-form")).to_be_visible()
        rec = tid(c, "recommend")
        await expect(rec).to_be_visible()
        await rec.locator("label", has_text="5-4-3-2-1").click()
        await tid(c, "recommend-send").click()
        await expect(rec).to_contain_text("已推荐 1 项")
        await page.goto("/selfhelp.html")
        await expect(tid(page, "for-you")).to_contain_text("5-4-3-2-1")
        await expect(tid(page, "for-you")).to_contain_text("推荐")
        errors.assert_clean()
        cerrors.assert_clean()
    finally:
        await ctx.close()
        await cctx.close()
        await counselor.close()
