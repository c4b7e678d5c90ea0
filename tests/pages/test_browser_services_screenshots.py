"""The self-service pages, driven for real and photographed (see scripts/screenshots.py):
each state is asserted before it is taken. Phone pages at 360×640, staff at 1366×800."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import expect

from tests import browser as _browser
from tests.browser import PageErrors, desktop, phone, start_web_node, tid
from tests.browser import worker_signs_in as sign_in_page
from tests.clients import PASSWORD, Worker, resident_id
from tests.pages.test_browser_screenshots import named_staff, shots, snap
from tests.selfservice.test_booking import T0, pin, publish

browser = _browser.browser  # fixture
shots = shots  # fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]


async def test_self_service_pages(browser, node_factory, shots) -> None:
    node = await start_web_node(node_factory)
    clock = pin(node)
    counselor = await named_staff(node, "lin", "林老师", "counselor")
    supervisor = await named_staff(node, "zhou", "周督导", "supervisor")
    admin = await named_staff(node, "admin1", "管理员", "admin")
    station = (await admin.http.post("/api/admin/stations", json={
        "name": "朝阳区职工心灵驿站", "district": "朝阳区", "address": "工人文化宫二层 203 室",
        "hours": "周一至周五 9:00–17:00", "directions": "地铁 6 号线呼家楼站 A 口，步行 5 分钟"}
    )).json()["id"]
    await admin.http.post("/api/admin/library", json={
        "kind": "music", "title": "雨声 · 30 分钟", "title_en": "Rain, 30 minutes",
        "summary": "睡前听，帮助放松入睡。", "url": "https://example.org/rain.mp3",
        "topics": ["sleep"], "suitable": ["mild", "moderate"]})
    online = await publish(counselor, T0 + dt.timedelta(days=1, hours=1))
    await publish(counselor, T0 + dt.timedelta(days=1, hours=3), mode="in_person",
                  station_id=station)
    await publish(counselor, T0 + dt.timedelta(days=2, hours=1))
    opens = T0 - dt.timedelta(hours=1)
    event = (await admin.http.post("/api/admin/open-days", json={
        "theme": "睡个好觉：倒班职工的睡眠", "teacher": "李老师",
        "place": "市总工会职工服务中心三层",
        "starts_at": (T0 + dt.timedelta(days=9)).isoformat(),
        "ends_at": (T0 + dt.timedelta(days=9, hours=2)).isoformat(),
        "signup_opens_at": opens.isoformat(), "capacity": 30})).json()["id"]
    await admin.http.post("/api/admin/open-days", json={
        "theme": "和情绪做朋友", "teacher": "陈老师", "place": "海淀区职工心灵驿站",
        "starts_at": (T0 + dt.timedelta(days=30)).isoformat(),
        "ends_at": (T0 + dt.timedelta(days=30, hours=2)).isoformat(),
        "signup_opens_at": (T0 + dt.timedelta(days=20)).isoformat(), "capacity": 20})
    others = [Worker(node.base) for _ in range(6)]
    for w in others:
        await w.sign_in()
        await w.http.post(f"/api/worker/open-days/{event}/signup")
        await w.http.post("/api/worker/assessments", json={
            "scale": "phq9", "answers": [1, 1, 1, 1, 1, 1, 1, 0, 0]})

    ctx = await phone(browser, node)
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        await sign_in_page(page, resident_id())
        await tid(page, "more-services").scroll_into_view_if_needed()
        await snap(page, shots, "worker-home-services")

        await page.goto("/assess.html")
        await expect(tid(page, "screen-pick")).to_be_visible()
        await snap(page, shots, "assess-pick")
        await tid(page, "scale-phq9").click()
        for value in (2, 1, 2):
            await tid(page, f"opt-{value}").click()
        await expect(tid(page, "q-progress")).to_have_text("第 4 / 9 题")
        await snap(page, shots, "assess-question")
        for value in (1, 2, 1, 1, 1, 0):
            await tid(page, f"opt-{value}").click()
        await expect(tid(page, "report-band")).to_have_attribute("data-band", "moderate")
        await snap(page, shots, "assess-report")
        await tid(page, "back-to-list").click()
        await tid(page, "scale-gad7").click()
        for value in (1, 1, 2, 1, 0, 1, 0):
            await tid(page, f"opt-{value}").click()
        await expect(tid(page, "report-band")).to_have_attribute("data-band", "mild")
        await tid(page, "back-to-list").click()
        clock.at = T0 + dt.timedelta(hours=6)  # within the session's life
        await tid(page, "scale-phq9").click()
        for value in (1, 1, 1, 1, 0, 1, 0, 0, 0):
            await tid(page, f"opt-{value}").click()
        await tid(page, "back-to-list").click()
        await tid(page, "open-trend").click()
        await expect(tid(page, "trend-row")).to_have_count(3)
        await snap(page, shots, "assess-trend")
        clock.at = T0

        await page.goto("/selfhelp.html")
        await expect(tid(page, "for-you")).to_be_visible()
        await snap(page, shots, "selfhelp")
        await page.goto("/selfhelp/breathing.html")
        await expect(tid(page, "exercise-breathing")).to_contain_text("吸气")
        await snap(page, shots, "selfhelp-breathing")

        await page.goto("/booking.html")
        await page.locator(f'[data-slot="{online["id"]}"]').get_by_test_id("slot-book").click()
        await expect(tid(page, "booking")).to_have_count(1)
        await snap(page, shots, "booking")

        await page.goto("/opendays.html")
        await tid(page, "events").get_by_test_id("signup").first.click()
        await expect(tid(page, "signup-status")).to_have_text("已报名")
        await snap(page, shots, "opendays")
        errors.assert_clean()

        # The crisis report, last: it is what a worker sees when item 9 is above 0.
        await page.goto("/assess.html?scale=phq9")
        for value in (2, 2, 1, 1, 1, 1, 1, 1, 1):
            await tid(page, f"opt-{value}").click()
        await expect(tid(page, "report-crisis")).to_be_visible()
        await snap(page, shots, "assess-crisis")
    finally:
        await ctx.close()

    for staff, name, tab in ((counselor, "services-counselor", None),
                             (supervisor, "services-report", "report"),
                             (admin, "services-library", "library")):
        sctx = await desktop(browser, node)
        try:
            spage = await sctx.new_page()
            errors = PageErrors(spage)
            await spage.goto("/services.html")
            await tid(spage, "username").fill(staff.username)
            await tid(spage, "password").fill(PASSWORD)
            await tid(spage, "staff-signin").click()
            await expect(tid(spage, "tabs")).to_be_visible()
            if tab:
                await tid(spage, f"tab-{tab}").click()
            if name == "services-counselor":
                await tid(spage, "day").fill("2026-12-04")
                await tid(spage, "day").dispatch_event("change")
                await expect(tid(spage, "day-row")).to_have_count(2)
            if name == "services-report":
                await tid(spage, "report-from").fill("2026-12-01")
                await tid(spage, "report-to").fill("2026-12-31")
                await spage.get_by_role("button", name="查看").click()
                await expect(tid(spage, "report-bands")).to_contain_text("轻度")
            if name == "services-library":
                await expect(tid(spage, "library-row")).to_have_count(4)
            await snap(spage, shots, name)
            errors.assert_clean()
        finally:
            await sctx.close()
    for who in (*others, counselor, supervisor, admin):
        await who.close()
