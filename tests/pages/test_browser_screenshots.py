"""Every page state people see, driven for real and photographed.

In the suite the pictures go to a temporary folder (the states are still asserted); with
YIZHAN_SCREENSHOTS=1 (`python -m scripts.screenshots`) they replace docs/screenshots/*.png.
Phone pages at 360×640, staff pages at 1366×800, device scale 1 (small PNGs).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from tests import browser as _browser
from tests.browser import (
    PageErrors,
    desktop,
    phone,
    send_text,
    staff_signs_in,
    start_web_node,
    tid,
)
from tests.clients import PASSWORD, Staff, Worker, resident_id
from tests.conftest import RunningNode

browser = _browser.browser  # fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SH = ZoneInfo("Asia/Shanghai")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("YIZHAN_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    return tmp_path


async def snap(page: Page, folder: Path, name: str, full_page: bool = False) -> None:
    await page.wait_for_timeout(150)  # let transitions and focus rings settle
    await page.screenshot(path=str(folder / f"{name}.png"), animations="disabled",
                          caret="hide", scale="css", full_page=full_page)
    assert (folder / f"{name}.png").stat().st_size > 5_000


async def named_staff(node: RunningNode, username: str, display: str, role: str,
                      capacity: int = 2) -> Staff:
    from chat_server.wire.protocol import Role

    await node.node.sessions.create_staff(username, display, Role(role), PASSWORD, capacity)
    staff = Staff(node.base, username, PASSWORD)
    assert (await staff.sign_in()).status_code == 201
    return staff


async def chatting_worker(node: RunningNode) -> Worker:
    worker = Worker(node.base)
    assert (await worker.sign_in()).status_code == 201
    ws = await worker.connect()
    await worker.request_chat()
    await ws.expect("matched")
    return worker


async def say(worker: Worker, text: str, n: int) -> None:
    assert worker.ws
    cid = f"s-{n}"
    await worker.ws.send({"type": "send", "conversation_id": worker.conversation_id,
                          "client_id": cid, "text": text})
    await worker.ws.expect("ack", client_id=cid)


async def test_screenshots_of_every_state(browser, node_factory, shots) -> None:
    # Open whatever the hour of the run: message times come from PostgreSQL's real clock,
    # so a faked evening would make every duration on the pages wrong.
    node = await start_web_node(node_factory, wrapup_s=0)
    lin = await named_staff(node, "lin", "小林", "counselor")
    wang = await named_staff(node, "wang", "王老师", "supervisor")
    others: list[Worker] = []
    contexts = [await phone(browser, node), await desktop(browser, node),
                await desktop(browser, node)]
    try:
        w, c, s = [await ctx.new_page() for ctx in contexts]
        watch = [PageErrors(p) for p in (w, c, s)]

        # A counselor on duty and a supervisor at the board.
        await staff_signs_in(c, "/counselor.html", lin)
        await tid(c, "duty-toggle").click()
        await expect(tid(c, "duty-toggle")).to_have_attribute("aria-pressed", "true")
        await staff_signs_in(s, "/supervisor.html", wang)

        # Worker: welcome, before you start, sign in.
        await w.goto("/")
        await expect(tid(w, "screen-welcome")).to_be_visible()
        await expect(tid(w, "service-status")).not_to_be_empty()
        await snap(w, shots, "worker-welcome")
        await tid(w, "welcome-start").click()
        await expect(tid(w, "screen-consent")).to_be_visible()
        await snap(w, shots, "worker-consent")
        await tid(w, "consent-check").check()
        await tid(w, "consent-accept").click()
        await expect(tid(w, "screen-signin")).to_be_visible()
        await snap(w, shots, "worker-signin")  # empty field: no number in a picture
        await tid(w, "number-input").fill(resident_id())
        await tid(w, "signin-submit").click()
        await expect(tid(w, "request-chat")).to_be_enabled()

        # The counselor is busy with two people; one wrote something alarming.
        first = await chatting_worker(node)
        others.append(first)
        await expect(tid(c, "conversation-tab")).to_have_count(1)
        await say(first, "这个月又被扣了工资，跟班长说了也没用", 1)
        second = await chatting_worker(node)
        others.append(second)
        await expect(tid(c, "conversation-tab")).to_have_count(2)
        await say(second, "晚上一直睡不着，已经一个多星期了", 2)
        await say(second, "我不想活了，今晚就结束", 3)
        await expect(tid(c, "risk-badge").first).to_have_attribute("data-risk", "imminent")
        await tid(c, "conversation-tab").first.click()
        await send_text(c, "谢谢你告诉我。你现在在哪里？身边有人吗？")
        await expect(tid(c, "chat-log").locator('[data-from="counselor"]')).to_have_count(1)

        # The phone worker waits: both seats are taken.
        await tid(w, "request-chat").click()
        await expect(tid(w, "screen-waiting")).to_be_visible()
        await expect(tid(w, "queue-position")).to_have_attribute("data-position", "1")
        await expect(tid(c, "queue-length")).to_have_attribute("data-length", "1")
        await snap(w, shots, "worker-waiting")
        await snap(c, shots, "counselor-console")

        alert = tid(s, "escalation")
        await expect(alert).to_have_count(1)
        await expect(alert.get_by_test_id("ack-countdown")).to_be_visible()
        await expect(tid(s, "queue-length")).to_have_text("1")
        await snap(s, shots, "supervisor-board")

        # The first conversation ends; its seat goes to the phone worker.
        assert first.ws
        await first.ws.send({"type": "end", "conversation_id": first.conversation_id})
        await expect(tid(w, "screen-chat")).to_be_visible()
        await send_text(w, "你好，我在厂里做了三年了，最近压力很大")
        tabs = tid(c, "conversation-tab")
        await expect(tabs).to_have_count(3)
        await c.locator('[data-testid="conversation-tab"]:not(.is-ended)').last.click()
        await send_text(c, "你好，我是小林。愿意说说最近发生了什么吗？")
        await expect(w.locator('[data-testid="message"][data-from="counselor"]')).to_have_count(1)
        await send_text(w, "车间要裁人，我每天都在担心，饭也吃不下")

        # A referral card: the counselor flags, the supervisor sends a directory entry.
        sws = await lin.connect()
        await sws.send({"type": "flag", "conversation_id": await current_conversation(w),
                        "level": "high", "reason": "长期焦虑，需要后续支持", "ref": "f1"})
        flagged = await sws.expect("flagged")
        resources = (await wang.http.get("/api/referrals/resources")).json()["resources"]
        hotline = next(r for r in resources if r["phone"] == "12356")
        made = await wang.http.post(f"/api/escalations/{flagged['escalation_id']}/referrals",
                                    json={"resource_id": hotline["id"],
                                          "note": "下班后也可以打，有人接听"})
        assert made.status_code == 201
        await expect(tid(w, "referral-card")).to_be_visible()
        await send_text(c, "我给你发了一个热线，随时都可以打。我们接着聊。")
        await expect(w.locator('[data-testid="message"][data-from="counselor"]')).to_have_count(2)
        await snap(w, shots, "worker-chat")

        # After: thanks and the rating.
        await tid(w, "end-chat").click()
        await tid(w, "confirm-end").click()
        await expect(tid(w, "screen-after")).to_be_visible()
        await tid(w, "rating-star-5").click()
        await snap(w, shots, "worker-after")

        for p in watch:
            p.assert_clean()
    finally:
        for ctx in contexts:
            await ctx.close()
        for who in (*others, lin, wang):
            await who.close()

    # Closed: at 23:30 with hours 10:00–22:00.
    closed = await start_web_node(node_factory, open_time=dt.time(10, 0),
                                  close_time=dt.time(22, 0))
    closed.node.clock = lambda: dt.datetime(2026, 11, 28, 23, 30, tzinfo=SH)
    ctx = await phone(browser, closed)
    try:
        page = await ctx.new_page()
        await page.goto("/")
        await expect(tid(page, "screen-closed")).to_be_visible()
        await expect(tid(page, "next-open")).to_contain_text("10:00")
        await snap(page, shots, "worker-closed")
    finally:
        await ctx.close()


async def current_conversation(page: Page) -> str:
    conv = await page.evaluate("() => JSON.parse(sessionStorage.getItem('yz.w.conv')).id")
    assert conv
    return conv


async def test_screenshots_of_the_management_pages(browser, node_factory, shots) -> None:
    """Admin, set-up link, roster, directory and reports (seeded month), and the worker's
    "delete my history" result."""
    import base64

    from chat_server.accounts import totp
    from tests.pages.test_browser_admin import manager_signs_in
    from tests.report_seed import seed

    now = dt.datetime(2026, 12, 3, 15, 0, tzinfo=SH)
    node = await start_web_node(node_factory, open_time=dt.time(10, 0),
                                duty_requires_roster=True)
    node.node.clock = lambda: now
    admin = await named_staff(node, "zhou", "周主任", "admin")
    wang = await named_staff(node, "wang", "王老师", "supervisor")
    lin = await named_staff(node, "lin", "小林", "counselor")
    chen = await named_staff(node, "chen", "陈老师", "counselor")
    await seed(node.node.services.pool, lin.id, chen.id, wang.id)
    pool = node.node.services.pool
    # A roster with gaps: patterns for two counselors and the supervisor.
    for who, days, start, end in ((lin, "mon-fri", "10:00", "18:00"),
                                  (chen, "mon,wed,fri,sat", "16:00", "24:00"),
                                  (wang, "mon-fri", "10:00", "19:00")):
        r = await wang.http.post("/api/roster/patterns", json={
            "staff_id": who.id, "weekdays": days, "start": start, "end": end})
        assert r.status_code == 201, r.text
    await pool.execute("UPDATE referral_resources SET last_verified_at = $1,"
                       " verify_before_launch = false", now - dt.timedelta(days=20))
    await pool.execute("UPDATE referral_resources SET last_verified_at = NULL WHERE id IN"
                       " (SELECT id FROM referral_resources ORDER BY name LIMIT 2)")
    contexts = [await desktop(browser, node), await desktop(browser, node),
                await phone(browser, node)]
    others: list[Worker] = []
    try:
        page, newcomer, w = [await c.new_page() for c in contexts]
        watch = [PageErrors(p) for p in (page, newcomer, w)]
        await manager_signs_in(page, "/admin.html", admin)
        await tid(page, "new-staff").locator("summary").click()
        await tid(page, "new-username").fill("zhao")
        await tid(page, "new-display").fill("赵老师")
        await tid(page, "new-role").select_option("supervisor")
        await tid(page, "new-create").click()
        await expect(tid(page, "setup-link")).to_be_visible()
        await expect(tid(page, "audit-row").first).to_be_visible()
        await snap(page, shots, "admin", full_page=True)
        url = await tid(page, "setup-link-url").input_value()

        await newcomer.goto(url.replace(node.base, ""))
        await expect(tid(newcomer, "view-setup")).to_be_visible()
        await snap(newcomer, shots, "setup")
        raw = (await tid(newcomer, "totp-secret").inner_text()).replace(" ", "")
        secret = base64.b32decode(raw + "=" * (-len(raw) % 8))
        await tid(newcomer, "setup-password").fill("quiet river lantern 42")
        await tid(newcomer, "setup-password2").fill("quiet river lantern 42")
        await tid(newcomer, "setup-totp").fill(totp.code_at(secret, now))
        await tid(newcomer, "setup-submit").click()
        await expect(tid(newcomer, "recovery-codes").locator("li")).to_have_count(10)
        await snap(newcomer, shots, "setup-done")

        await page.goto("/roster.html?week=2026-11-30")
        await expect(tid(page, "heat-cell").first).to_be_visible()
        await page.locator('[data-testid="grid-cell"][data-username="lin"]'
                           '[data-date="2026-12-05"]').click()
        await expect(tid(page, "cell-editor")).to_be_visible()
        await snap(page, shots, "roster", full_page=True)

        await page.goto("/directory.html")
        await expect(tid(page, "stale-flag").first).to_be_visible()
        await snap(page, shots, "directory", full_page=True)

        await page.goto("/reports.html?month=2026-11")
        await expect(tid(page, "chart-daily").locator("canvas")).to_have_count(1)
        await snap(page, shots, "reports", full_page=True)

        # The worker who deletes their history.
        number = resident_id()
        talker = Worker(node.base, number)
        others.append(talker)
        await lin.connect()
        await lin.on_duty()
        assert (await talker.sign_in()).status_code == 201
        tws = await talker.connect()
        await talker.request_chat()
        await tws.expect("matched")
        await say(talker, "最近总是睡不好", 1)
        await tws.send({"type": "end", "conversation_id": talker.conversation_id})
        await tws.expect("ended")
        # The phone holds the device credential the conversation is bound to.
        await contexts[2].add_cookies([{
            "name": "yz_d", "value": talker.http.cookies.get("yz_d"), "domain": "127.0.0.1",
            "path": "/api/worker", "httpOnly": True, "sameSite": "Strict"}])
        await sign_in_on(w, number, first=True)
        await tid(w, "open-history").click()
        await expect(tid(w, "history-item")).to_have_count(1)
        await tid(w, "forget-start").click()
        await expect(tid(w, "forget-confirm")).to_be_visible()
        await snap(w, shots, "worker-forget-confirm")
        await tid(w, "forget-confirm").click()
        await expect(tid(w, "forget-result")).to_be_visible()
        await snap(w, shots, "worker-forget-done")
        for p in watch:
            p.assert_clean()
    finally:
        for c in contexts:
            await c.close()
        for who in (*others, admin, wang, lin, chen):
            await who.close()


async def sign_in_on(page: Page, number: str, *, first: bool) -> None:
    await page.goto("/")
    await tid(page, "welcome-start").click()
    if first:
        await tid(page, "consent-check").check()
        await tid(page, "consent-accept").click()
    await tid(page, "number-input").fill(number)
    await tid(page, "signin-submit").click()
    await expect(tid(page, "screen-ready")).to_be_visible()
    await expect(tid(page, "request-chat")).to_be_enabled()
