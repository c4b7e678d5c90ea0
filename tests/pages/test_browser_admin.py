"""The admin page in a real browser: create a counselor, who sets up the account from the
one-time link (password + TOTP) and signs in with a code; disable; the audit viewer."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from playwright.async_api import Page, expect

from chat_server.accounts import totp
from tests import browser as _browser
from tests.browser import PageErrors, desktop, tid
from tests.clients import PASSWORD, Staff, make_staff

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]

T = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai
NEW_PASSWORD = "quiet river lantern 42"


async def manager_signs_in(page: Page, path: str, staff: Staff) -> None:
    await page.goto(path)
    await tid(page, "username").fill(staff.username)
    await tid(page, "password").fill(PASSWORD)
    await tid(page, "staff-signin").click()
    await expect(tid(page, "manage-nav")).to_be_visible()


def secret_from(text: str) -> bytes:
    raw = text.replace(" ", "")
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


async def test_create_a_counselor_who_signs_in_with_totp(browser, web) -> None:
    web.node.clock = lambda: T
    admin = await make_staff(web, "admin")
    contexts = [await desktop(browser, web) for _ in range(3)]
    try:
        page, newcomer, console = [await c.new_page() for c in contexts]
        watch = [PageErrors(p) for p in (page, newcomer, console)]
        await manager_signs_in(page, "/admin.html", admin)
        await tid(page, "new-staff").locator("summary").click()
        await tid(page, "new-username").fill("newlin")
        await tid(page, "new-display").fill("小新")
        await tid(page, "new-role").select_option("counselor")
        await tid(page, "new-create").click()
        await expect(tid(page, "setup-link")).to_be_visible()
        url = await tid(page, "setup-link-url").input_value()
        assert "#t=" in url
        row = page.locator('[data-testid="staff-row"][data-username="newlin"]')
        await expect(row.get_by_test_id("staff-state")).to_have_text("待设置")

        # The newcomer opens the link, chooses a password and enrols the authenticator.
        await newcomer.goto(url.replace(web.base, ""))
        await expect(tid(newcomer, "view-setup")).to_be_visible()
        assert "#t=" not in newcomer.url  # the token left the address bar
        src = await tid(newcomer, "totp-qr").get_attribute("src")
        assert src and src.startswith("data:image/svg+xml;base64,")
        secret = secret_from(await tid(newcomer, "totp-secret").inner_text())
        await tid(newcomer, "setup-password").fill(NEW_PASSWORD)
        await tid(newcomer, "setup-password2").fill(NEW_PASSWORD)
        await tid(newcomer, "setup-totp").fill(totp.code_at(secret, T))
        await tid(newcomer, "setup-submit").click()
        await expect(tid(newcomer, "view-done")).to_be_visible()
        await expect(tid(newcomer, "recovery-codes").locator("li")).to_have_count(10)

        # Sign-in asks for the code after the password, then opens the console.
        later = T + dt.timedelta(seconds=60)
        web.node.clock = lambda: later
        await console.goto("/counselor.html")
        await tid(console, "username").fill("newlin")
        await tid(console, "password").fill(NEW_PASSWORD)
        await tid(console, "staff-signin").click()
        await expect(tid(console, "totp")).to_be_visible()
        await tid(console, "totp").fill("000000")
        await tid(console, "password").fill(NEW_PASSWORD)
        await tid(console, "staff-signin").click()
        await expect(tid(console, "signin-error")).to_contain_text("验证码不对")
        await tid(console, "password").fill(NEW_PASSWORD)
        await tid(console, "totp").fill(totp.code_at(secret, later))
        await tid(console, "staff-signin").click()
        await expect(tid(console, "conn-state")).to_have_attribute("data-state", "ready")

        # Back on the admin page: two-step is on; disabling signs the counselor out.
        await page.reload()
        row = page.locator('[data-testid="staff-row"][data-username="newlin"]')
        await expect(row.get_by_test_id("staff-2fa")).to_have_attribute("data-on", "1")
        await row.get_by_test_id("staff-capacity").select_option("3")
        await expect(tid(page, "toast")).to_have_text("已保存。")
        await row.get_by_test_id("staff-disable").click()
        await row.get_by_test_id("staff-disable").click()  # the second click confirms
        await expect(row).to_have_attribute("data-disabled", "1")
        await expect(tid(console, "view-signin")).to_be_visible()

        # The audit viewer: filtered by action.
        await tid(page, "audit-action").select_option("staff_disabled")
        await tid(page, "audit-filter").click()
        await expect(tid(page, "audit-row")).to_have_count(1)
        await expect(tid(page, "audit-row")).to_have_attribute("data-action", "staff_disabled")
        # Retention: the period, and the last run once the daily job has run.
        await expect(tid(page, "retention-body")).to_contain_text("1095 天")
        await expect(tid(page, "retention-last")).to_have_text("还没有执行过。")
        assert (await admin.http.post("/api/retention/run")).status_code == 200
        await page.reload()
        await expect(tid(page, "retention-last")).to_contain_text("销毁 0 段对话")
        # English on the toggle, as on the other pages.
        await tid(page, "lang-toggle").click()
        await expect(tid(page, "manage-nav")).to_contain_text("Accounts & audit")
        await expect(tid(page, "retention-body")).to_contain_text("kept 1095 days")
        await tid(page, "lang-toggle").click()
        capacity = await web.node.services.pool.fetchval(
            "SELECT capacity FROM staff WHERE username = 'newlin'")
        assert capacity == 3
        for p in watch:
            p.assert_clean()
    finally:
        for c in contexts:
            await c.close()
        await admin.close()
