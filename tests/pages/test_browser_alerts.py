"""Issue 21 in a real browser: alerts that reach a counselor looking elsewhere, a worker's
place kept while the page is in the background (and not longer), and a welcome page that
follows the hours without a reload. The node's clock is pinned: nobody waits real minutes."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

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
from tests.clients import Worker, make_staff, resident_id

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SH = ZoneInfo("Asia/Shanghai")

# Records each desktop notification the page makes, and lets the test hide the tab (a
# headless page is always "visible"; this is what the page reads to decide).
SPY = """
window.__notes = [];
const Real = window.Notification;
if (Real) {
  class Spy extends Real {
    constructor(title, opts) {
      window.__notes.push({ title: title, body: (opts && opts.body) || '' });
      super(title, opts);
    }
  }
  window.Notification = Spy;
}
let hiddenNow = false;
const proto = Document.prototype;
Object.defineProperty(proto, 'visibilityState',
  { get: () => hiddenNow ? 'hidden' : 'visible', configurable: true });
Object.defineProperty(proto, 'hidden', { get: () => hiddenNow, configurable: true });
window.__setHidden = (h) => {
  hiddenNow = h;
  document.dispatchEvent(new Event('visibilitychange'));
};
"""


class Clock:
    """The node's clock, pinned; `advance` moves it (and it does not move by itself)."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


def pin(web: object, start: dt.datetime | None = None) -> Clock:
    clock = Clock(start or dt.datetime.now(dt.UTC))
    web.node.clock = clock  # type: ignore[attr-defined]
    return clock


async def conversation_status(web: object, worker_page: Page) -> list[str]:
    rows = await web.node.services.pool.fetch(  # type: ignore[attr-defined]
        "SELECT status FROM conversations ORDER BY queued_at")
    return [r["status"] for r in rows]


# ---------------------------------------------------------------- counselor alerts


async def test_a_hidden_counselor_tab_gets_a_notification_and_a_badge(browser, web) -> None:
    pin(web)
    counselor = await make_staff(web)
    ctx = await desktop(browser, web)
    await ctx.grant_permissions(["notifications"])
    await ctx.add_init_script(SPY)
    worker = Worker(web.base)
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        await staff_signs_in(page, "/counselor.html", counselor)
        # Allowed already: nothing to ask; the sound control says what it can do.
        await expect(tid(page, "notify-ask")).to_have_count(0)
        await expect(tid(page, "sound-toggle")).to_have_attribute(
            "data-state", re.compile("on|blocked"))
        await counselor_on_duty(page)
        await page.evaluate("window.__setHidden(true)")

        await worker.sign_in()
        wws = await worker.connect()
        queued = await worker.request_chat()
        conv = queued["conversation_id"]
        await wws.expect("matched")
        await expect(tid(page, "conversation-tab")).to_have_count(1)
        # A new assignment in a hidden tab: notified and counted.
        await expect(page).to_have_title(re.compile(r"^\(1\) "))
        await page.wait_for_function("window.__notes.length === 1")

        await wws.send({"type": "send", "conversation_id": conv, "client_id": "a1",
                        "text": "你好"})
        await wws.expect("ack")
        await expect(page).to_have_title(re.compile(r"^\(2\) "))
        await page.wait_for_function("window.__notes.length === 2")
        notes = await page.evaluate("window.__notes")
        assert "你好" not in notes[1]["title"] + notes[1]["body"]  # never the message text
        assert notes[1]["title"].endswith("发来新消息")
        # Back to the tab: the badge goes.
        await page.evaluate("window.__setHidden(false)")
        await expect(page).not_to_have_title(re.compile(r"^\("))
        errors.assert_clean()
    finally:
        await ctx.close()
        await worker.close()
        await counselor.close()


async def test_notifications_are_offered_with_an_explanation_at_sign_in(browser, web) -> None:
    counselor = await make_staff(web)
    ctx = await desktop(browser, web)
    try:
        page = await ctx.new_page()
        await staff_signs_in(page, "/counselor.html", counselor)
        ask = tid(page, "notify-ask")
        await expect(ask).to_be_visible()
        await expect(ask).to_contain_text("桌面通知")
        await expect(tid(page, "notify-allow")).to_be_visible()
        await tid(page, "notify-later").click()
        await expect(ask).to_have_count(0)
    finally:
        await ctx.close()
        await counselor.close()


# ---------------------------------------------------------------- honest presence


async def test_a_worker_backgrounded_for_five_minutes_keeps_the_place(browser, web) -> None:
    clock = pin(web)
    counselor = await make_staff(web)
    wctx = await phone(browser, web)
    cctx = await desktop(browser, web)
    try:
        w = await wctx.new_page()
        await worker_signs_in(w, resident_id())
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-waiting")).to_be_visible()
        # WeChat suspends the page: its socket goes; five minutes pass.
        await w.goto("about:blank")
        clock.advance(minutes=5)

        c = await cctx.new_page()
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        # Unseen for longer than the grace period: not handed to the counselor as a ghost.
        await web.parts.core.matcher.match()
        await expect(tid(c, "conversation-tab")).to_have_count(0)
        assert await conversation_status(web, w) == ["waiting"]

        # Back from the background: served from the kept place at once.
        await w.goto("/")
        await expect(tid(w, "screen-chat")).to_be_visible()
        await expect(tid(c, "conversation-tab")).to_have_count(1)
        await expect(tid(c, "worker-presence")).to_have_attribute("data-presence", "online")
    finally:
        await wctx.close()
        await cctx.close()
        await counselor.close()


async def test_a_worker_gone_longer_than_the_keeping_time_is_skipped(browser, web) -> None:
    clock = pin(web)
    counselor = await make_staff(web)
    gone_ctx = await phone(browser, web)
    next_ctx = await phone(browser, web)
    cctx = await desktop(browser, web)
    try:
        gone = await gone_ctx.new_page()
        await worker_signs_in(gone, resident_id())
        await tid(gone, "request-chat").click()
        await expect(tid(gone, "screen-waiting")).to_be_visible()
        await gone.goto("about:blank")
        clock.advance(minutes=11)  # past YIZHAN_WORKER_KEEP (10 minutes)

        nxt = await next_ctx.new_page()
        await worker_signs_in(nxt, resident_id())
        await tid(nxt, "request-chat").click()
        await expect(tid(nxt, "screen-waiting")).to_be_visible()

        c = await cctx.new_page()
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        await expect(tid(nxt, "screen-chat")).to_be_visible()
        await expect(tid(c, "conversation-tab")).to_have_count(1)
        statuses = await conversation_status(web, gone)
        assert statuses[0] == "abandoned" and statuses[1] == "active", statuses
    finally:
        for ctx in (gone_ctx, next_ctx, cctx):
            await ctx.close()
        await counselor.close()


async def test_a_seat_held_by_a_gone_worker_is_released_with_a_note(browser, web) -> None:
    clock = pin(web)
    counselor = await make_staff(web)
    wctx = await phone(browser, web)
    cctx = await desktop(browser, web)
    try:
        c = await cctx.new_page()
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        w = await wctx.new_page()
        await worker_signs_in(w, resident_id())
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-chat")).to_be_visible()
        await w.goto("about:blank")
        presence = tid(c, "worker-presence")
        await expect(presence).to_have_attribute("data-presence", "away")
        clock.advance(minutes=11)
        await web.parts.core.sweeps.sweep_gone_workers()
        await expect(c.locator("#note-view")).to_be_visible()
        await expect(tid(c, "toast")).to_contain_text("座位已释放")
    finally:
        await wctx.close()
        await cctx.close()
        await counselor.close()


# ---------------------------------------------------------------- a page that stays true


async def test_the_welcome_page_turns_closed_at_closing_time_without_a_reload(
    browser, node_factory
) -> None:
    from tests.browser import start_web_node

    node = await start_web_node(node_factory, open_time=dt.time(10, 0))
    start = dt.datetime(2026, 12, 3, 23, 59, 57, tzinfo=SH)
    began = time.monotonic()
    # Pinned to two seconds before midnight, then running: the page must follow it.
    clock: Callable[[], dt.datetime] = lambda: start + dt.timedelta(  # noqa: E731
        seconds=time.monotonic() - began)
    node.node.clock = clock
    ctx = await phone(browser, node)
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        await page.goto("/")
        await expect(tid(page, "screen-welcome")).to_be_visible()
        await expect(tid(page, "service-status")).to_have_class(re.compile("is-(open|busy)"))
        # No reload: the page reads the status again just after closing time.
        await expect(tid(page, "screen-closed")).to_be_visible(timeout=15_000)
        errors.assert_clean()
    finally:
        await ctx.close()


async def test_a_stale_start_gets_the_closed_screen_not_a_form(browser, node_factory) -> None:
    from tests.browser import start_web_node

    node = await start_web_node(node_factory, open_time=dt.time(10, 0))
    clock = Clock(dt.datetime(2026, 12, 3, 21, 0, tzinfo=SH))
    node.node.clock = clock
    ctx = await phone(browser, node)
    try:
        page = await ctx.new_page()
        await page.goto("/")
        await expect(tid(page, "screen-welcome")).to_be_visible()
        clock.advance(hours=3, minutes=1)  # past 24:00; the page's timer has not fired
        await tid(page, "welcome-start").click()
        await expect(tid(page, "screen-closed")).to_be_visible()
        await expect(tid(page, "screen-consent")).to_be_hidden()
    finally:
        await ctx.close()


# ---------------------------------------------------------------- the worker knows


async def test_a_counselor_coming_shows_above_the_hotline_sheet(browser, web) -> None:
    counselor = await make_staff(web)
    wctx = await phone(browser, web)
    await wctx.add_init_script(
        "window.__buzz = []; navigator.vibrate = (p) => { window.__buzz.push(p); return true; };")
    cctx = await desktop(browser, web)
    try:
        w = await wctx.new_page()
        errors = PageErrors(w)
        await worker_signs_in(w, resident_id())
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-waiting")).to_be_visible()
        await tid(w, "hotline-button").click()
        await expect(tid(w, "hotline-dialog")).to_be_visible()

        c = await cctx.new_page()
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        banner = tid(w, "arrival-banner")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("咨询师")
        await expect(w).to_have_title(re.compile("^咨询师来了"))
        assert await w.evaluate("window.__buzz.length") == 1
        # Nothing covers it: the banner is the topmost element where it is drawn.
        on_top = await banner.evaluate(
            "b => { const r = b.getBoundingClientRect();"
            " return b.contains(document.elementFromPoint(r.left + 8, r.top + r.height / 2)); }")
        assert on_top
        await tid(w, "arrival-open").click()
        await expect(tid(w, "hotline-dialog")).to_be_hidden()
        await expect(tid(w, "screen-chat")).to_be_visible()
        await expect(w).not_to_have_title(re.compile("^咨询师来了"))
        errors.assert_clean()
    finally:
        await wctx.close()
        await cctx.close()
        await counselor.close()


async def test_supervisor_sound_is_on_after_a_click_and_says_when_blocked(browser, web) -> None:
    sup = await make_staff(web, "supervisor")
    ctx = await desktop(browser, web)
    try:
        page = await ctx.new_page()
        await staff_signs_in(page, "/supervisor.html", sup)  # the sign-in was a click
        sound = tid(page, "sound-toggle")
        await expect(sound).to_have_attribute("data-state", "on")
        # A reload has had no click yet: the browser blocks sound, and the page says so.
        await page.reload()
        await expect(tid(page, "conn-state")).to_have_attribute("data-state", "ready")
        await expect(sound).to_have_attribute("data-state", "blocked")
        await expect(tid(page, "sound-hint")).to_be_visible()
        await page.mouse.click(5, 300)
        await expect(sound).to_have_attribute("data-state", "on")
        await expect(tid(page, "sound-hint")).to_be_hidden()
    finally:
        await ctx.close()
        await sup.close()
