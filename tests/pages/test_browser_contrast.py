"""Issue 21: every page's text at WCAG AA contrast (4.5:1, large text 3:1) and its
controls' boundaries at 3:1, computed from the styles the browser applies."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests import browser as _browser
from tests.browser import counselor_on_duty, desktop, phone, send_text, staff_signs_in, tid
from tests.clients import make_staff, resident_id
from tests.contrast import contrast_failures

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]


async def check(page: Page, where: str, fails: list[dict[str, Any]]) -> None:
    fails.extend(await contrast_failures(page, where))


async def test_the_three_pages_pass_the_contrast_check(browser, web) -> None:
    fails: list[dict[str, Any]] = []
    counselor = await make_staff(web)
    sup = await make_staff(web, "supervisor")
    wctx, cctx, sctx = (await phone(browser, web), await desktop(browser, web),
                        await desktop(browser, web))
    try:
        w = await wctx.new_page()
        await w.goto("/")
        await expect(tid(w, "screen-welcome")).to_be_visible()
        await check(w, "worker welcome", fails)
        await tid(w, "welcome-start").click()
        await expect(tid(w, "screen-consent")).to_be_visible()
        await check(w, "worker consent", fails)
        await tid(w, "consent-check").check()
        await tid(w, "consent-accept").click()
        await expect(tid(w, "screen-signin")).to_be_visible()
        await check(w, "worker sign-in", fails)
        await tid(w, "number-input").fill(resident_id())
        await tid(w, "signin-submit").click()
        await expect(tid(w, "screen-ready")).to_be_visible()
        await check(w, "worker ready", fails)

        c = await cctx.new_page()
        await c.goto("/counselor.html")
        await check(c, "counselor sign-in", fails)
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-chat")).to_be_visible()
        await send_text(w, "你好")
        await expect(c.locator("#log-wrap [data-testid=message]")).to_have_count(1)
        await send_text(c, "你好，我在")
        await expect(w.locator("[data-testid=chat-log] [data-testid=message]")).to_have_count(2)
        await check(w, "worker chat", fails)
        await check(c, "counselor chat", fails)
        await tid(w, "hotline-button").click()
        await check(w, "worker hotlines", fails)
        await w.keyboard.press("Escape")

        s = await sctx.new_page()
        await staff_signs_in(s, "/supervisor.html", sup)
        await check(s, "supervisor board", fails)

        await c.locator("#end-chat").click()
        await tid(c, "confirm-end").click()
        await expect(tid(w, "screen-after")).to_be_visible()
        await check(w, "worker after", fails)
        await check(c, "counselor note", fails)
    finally:
        for ctx in (wctx, cctx, sctx):
            await ctx.close()
        for p in (counselor, sup):
            await p.close()
    assert fails == [], "\n".join(str(f) for f in fails)


async def test_the_closed_screen_passes_the_contrast_check(browser, node_factory) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from tests.browser import start_web_node

    web = await start_web_node(node_factory, open_time=dt.time(10, 0))
    web.node.clock = lambda: dt.datetime(2026, 12, 3, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    ctx = await phone(browser, web)
    fails: list[dict[str, Any]] = []
    try:
        page = await ctx.new_page()
        await page.goto("/")
        await expect(tid(page, "screen-closed")).to_be_visible()
        await check(page, "worker closed", fails)
    finally:
        await ctx.close()
    assert fails == [], "\n".join(str(f) for f in fails)


