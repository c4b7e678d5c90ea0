"""The worker's page in a real browser: going offline mid-chat, hostile text, quick exit,
and the closed screen."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests import browser as _browser
from tests.browser import (
    PageErrors,
    counselor_on_duty,
    desktop,
    message_texts,
    phone,
    send_text,
    staff_signs_in,
    start_web_node,
    tid,
    worker_signs_in,
)
from tests.clients import Staff, make_staff, resident_id
from tests.conftest import RunningNode

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SH = ZoneInfo("Asia/Shanghai")


class Chat:
    def __init__(self, wctx: BrowserContext, w: Page, c: Page, counselor: Staff) -> None:
        self.wctx, self.w, self.c, self.counselor = wctx, w, c, counselor


@contextlib.asynccontextmanager
async def chat(browser: Browser, node: RunningNode,
               worker_socket: Callable[[Any], None] | None = None) -> AsyncIterator[Chat]:
    """A worker's phone page matched with a counselor's console page; `worker_socket`,
    if given, stands between the worker's page and its WebSocket (Playwright's route)."""
    counselor = await make_staff(node)
    wctx = await phone(browser, node)
    cctx = await desktop(browser, node)
    try:
        w, c = await wctx.new_page(), await cctx.new_page()
        if worker_socket is not None:
            await w.route_web_socket("**/ws/worker", worker_socket)
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        await worker_signs_in(w, resident_id())
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-chat")).to_be_visible()
        await expect(tid(c, "chat-alias")).not_to_be_empty()
        yield Chat(wctx, w, c, counselor)
    finally:
        await wctx.close()
        await cctx.close()
        await counselor.close()


def worker_log(page: Page) -> Any:
    return tid(page, "chat-log")


def counselor_log(page: Page) -> Any:
    return page.locator("#log-wrap")


# ---------------------------------------------------------------- offline and back


async def test_offline_and_back_loses_and_doubles_nothing(browser, web) -> None:
    async with chat(browser, web) as s:
        await send_text(s.w, "w1")
        await send_text(s.c, "c1")
        await expect(s.w.locator('[data-testid="message"][data-seq]')).to_have_count(2)

        await s.wctx.set_offline(True)
        await expect(tid(s.w, "reconnect-banner")).to_be_visible()
        for i in (2, 3):
            await send_text(s.w, f"w{i}")
            await send_text(s.c, f"c{i}")
        await asyncio.sleep(1)
        await s.wctx.set_offline(False)
        await send_text(s.w, "w4")

        expected = {"w1", "c1", "w2", "c2", "w3", "c3", "w4"}
        mine = s.w.locator('[data-testid="message"][data-from="worker"]')
        await expect(s.w.locator('[data-testid="message"][data-seq]')).to_have_count(
            len(expected), timeout=15_000)
        await expect(mine).to_have_count(4)
        for i in range(4):
            await expect(mine.nth(i)).to_have_attribute("data-state", "sent")
        shown = await message_texts(s.w)
        seqs = [seq for seq, _, _ in shown]
        assert seqs == list(range(1, len(expected) + 1)), seqs  # in order, no gap, no double
        assert sorted(text for _, _, text in shown) == sorted(expected)
        assert [t for _, f, t in shown if f == "worker"] == ["w1", "w2", "w3", "w4"]
        await expect(tid(s.w, "reconnect-banner")).to_be_hidden()

        # The counselor got every worker message once, in the same order and seqs.
        theirs = counselor_log(s.c).locator('[data-testid="message"][data-from="worker"]')
        await expect(theirs).to_have_count(4)
        got = await message_texts(s.c, counselor_log(s.c))
        assert got == shown
        stored = await web.node.services.pool.fetchval(
            "SELECT count(*) FROM messages WHERE sender_role = 'worker'")
        assert stored == 4


# ---------------------------------------------------------------- hostile text

PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


async def test_markup_in_messages_shows_as_text_on_both_sides(browser, web) -> None:
    async with chat(browser, web) as s:
        watch = [PageErrors(s.w), PageErrors(s.c)]
        await send_text(s.w, PAYLOADS[0])
        await send_text(s.c, PAYLOADS[1])
        await send_text(s.w, PAYLOADS[1])
        await send_text(s.c, PAYLOADS[0])
        expected = [PAYLOADS[0], PAYLOADS[1], PAYLOADS[1], PAYLOADS[0]]
        for page, log in ((s.w, worker_log(s.w)), (s.c, counselor_log(s.c))):
            texts = log.locator('[data-testid="message"][data-seq] .msg-text')
            await expect(texts).to_have_text(expected)
            assert await log.locator("img, script, iframe, svg").count() == 0
            assert await page.evaluate("() => window.__xss === undefined")
        await asyncio.sleep(0.5)  # an onerror would have fired by now
        for w in watch:
            w.assert_clean()


# ---------------------------------------------------------------- quick exit


async def test_quick_exit_leaves_no_way_back(browser, web) -> None:
    async with chat(browser, web) as s:
        await send_text(s.w, "w1")
        await expect(s.w.locator('[data-testid="message"][data-seq]')).to_have_count(1)
        stored = await s.w.evaluate("() => sessionStorage.length + localStorage.length")
        assert stored > 0  # the chat keeps its state there; it must go

        await tid(s.w, "quick-exit").click()
        await s.w.wait_for_url("**/neutral.html")
        await expect(s.w.locator("h1")).to_have_text("天气")
        assert await s.w.evaluate("() => sessionStorage.length + localStorage.length") == 0
        assert "驿站" not in await s.w.title()

        # The session is gone: its cookies are cleared and it is revoked on the server.
        async def cookie_names() -> set[str]:
            return {c["name"] for c in await s.wctx.cookies()}

        for _ in range(50):
            if not {"yz_w", "yz_d"} & await cookie_names():
                break
            await asyncio.sleep(0.1)
        assert not {"yz_w", "yz_d"} & await cookie_names()

        # Back does not return to the chat.
        await s.w.go_back()
        await asyncio.sleep(0.3)
        assert s.w.url in ("about:blank", f"{web.base}/neutral.html"), "back reached the app"
        assert await tid(s.w, "screen-chat").count() == 0
        # Even typing the address again shows no conversation, only the welcome.
        await s.w.goto("/")
        await expect(tid(s.w, "screen-welcome")).to_be_visible()
        await expect(tid(s.w, "screen-chat")).to_be_hidden()


# ---------------------------------------------------------------- closed


async def test_closed_screen_shows_next_opening_and_hotlines(browser, node_factory) -> None:
    node = await start_web_node(node_factory, open_time=dt.time(10, 0),
                                close_time=dt.time(22, 0))
    node.node.clock = lambda: dt.datetime(2026, 11, 28, 23, 30, tzinfo=SH)
    ctx = await phone(browser, node)
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        await page.goto("/")
        await expect(tid(page, "screen-closed")).to_be_visible()
        await expect(tid(page, "next-open")).to_contain_text("明天 10:00")
        closed = tid(page, "screen-closed")
        await expect(closed).to_contain_text("10:00")
        await expect(closed).to_contain_text("22:00")
        hotlines = closed.get_by_test_id("hotline")
        assert await hotlines.count() >= 3
        await expect(hotlines.first).to_have_attribute("href", "tel:12356")
        # Never a dead end: self-help and a refresh are there; nothing offers a chat.
        await expect(tid(page, "closed-refresh")).to_be_visible()
        await expect(tid(page, "screen-welcome")).to_be_hidden()
        await expect(tid(page, "quick-exit")).to_be_visible()
        errors.assert_clean()
    finally:
        await ctx.close()


# ---------------------------------------------------------------- matched before queued


async def test_a_late_queued_reply_leaves_a_matched_worker_in_the_chat(browser, web) -> None:
    """Another node can match a worker before the answering node's `queued` reply
    arrives. The page took that reply for a hand-over and told the worker, mid-chat, that
    another counselor was being found."""
    import json

    held: list[str | bytes] = []

    def reorder(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(raw: str | bytes) -> None:
            frame = json.loads(raw) if isinstance(raw, str) else {}
            if frame.get("type") == "queued" and not frame.get("handover"):
                held.append(raw)  # delivered only after `matched`
                return
            ws.send(raw)
            if frame.get("type") == "matched":
                while held:
                    ws.send(held.pop(0))

        server.on_message(from_server)
        ws.on_message(server.send)

    async with chat(browser, web, worker_socket=reorder) as s:
        errors = PageErrors(s.w)
        await send_text(s.c, "你好，我在")  # the counselor's first words reach the chat screen
        await expect(worker_log(s.w)).to_contain_text("你好，我在")
        assert not held  # the late reply was delivered, and changed nothing:
        await expect(tid(s.w, "screen-chat")).to_be_visible()
        await expect(tid(s.w, "screen-waiting")).to_be_hidden()
        # no "connecting you with another counselor" while talking to this one
        await expect(s.w.locator("#chat-notice")).to_be_hidden()
        await expect(s.w.locator("#chat-sub")).not_to_contain_text("正在接通")
        await send_text(s.w, "谢谢")
        await expect(counselor_log(s.c)).to_contain_text("谢谢")
        errors.assert_clean()


# ---------------------------------------------------------------- recovery code


async def test_a_recovery_code_is_shown_once_and_opens_history_on_a_new_phone(
        browser, web) -> None:
    """The page asks for a code, never lets the worker choose one (red team, finding 1)."""
    number = resident_id()
    counselor = await make_staff(web)
    wctx = await phone(browser, web)
    cctx = await desktop(browser, web)
    new_phone = await phone(browser, web)
    try:
        w, c = await wctx.new_page(), await cctx.new_page()
        await staff_signs_in(c, "/counselor.html", counselor)
        await counselor_on_duty(c)
        await worker_signs_in(w, number)
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-chat")).to_be_visible()
        await send_text(w, "旧事")
        await tid(w, "end-chat").click()
        await tid(w, "confirm-end").click()
        await expect(tid(w, "screen-after")).to_be_visible()
        await expect(tid(w, "pin-form")).to_be_visible()
        await tid(w, "pin-submit").click()
        shown = tid(w, "pin-code")
        await expect(shown).to_have_text(re.compile(r"^\d{4} \d{4}$"))
        await expect(tid(w, "pin-submit")).to_be_hidden()  # shown once: no second draw
        code = (await shown.text_content() or "").replace(" ", "")

        n = await new_phone.new_page()
        await n.goto("/")
        await tid(n, "welcome-start").click()
        await tid(n, "consent-check").check()
        await tid(n, "consent-accept").click()
        await tid(n, "number-input").fill(number)
        await tid(n, "history-toggle").click()
        await tid(n, "pin-input").fill(code)
        await tid(n, "signin-submit").click()
        await expect(tid(n, "screen-ready")).to_be_visible()
        await tid(n, "open-history").click()
        await expect(tid(n, "screen-history")).to_contain_text("旧事")
    finally:
        for ctx in (wctx, cctx, new_phone):
            await ctx.close()
        await counselor.close()

