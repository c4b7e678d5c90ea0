"""The directory editor in a real browser: an entry not verified for 90 days is flagged
to supervisors (on the board and in the directory) until someone verifies it."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import expect

from tests import browser as _browser
from tests.browser import PageErrors, desktop, staff_signs_in, tid
from tests.clients import make_staff

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


async def test_flag_a_stale_directory_entry(browser, web) -> None:
    web.node.clock = lambda: NOW
    pool = web.node.services.pool
    # Every seeded entry was checked 10 days ago, but one 100 days ago.
    await pool.execute("UPDATE referral_resources SET last_verified_at = $1,"
                       " verify_before_launch = false", NOW - dt.timedelta(days=10))
    await pool.execute("UPDATE referral_resources SET last_verified_at = $1 WHERE id ="
                       " (SELECT id FROM referral_resources ORDER BY name LIMIT 1)",
                       NOW - dt.timedelta(days=100))
    stale_name = await pool.fetchval("SELECT name FROM referral_resources ORDER BY name LIMIT 1")
    sup = await make_staff(web, "supervisor")
    ctx = await desktop(browser, web)
    try:
        board = await ctx.new_page()
        errors = [PageErrors(board)]
        await staff_signs_in(board, "/supervisor.html", sup)
        await expect(tid(board, "directory-stale")).to_have_attribute("data-count", "1")
        await expect(tid(board, "directory-stale")).to_contain_text("1 条需要核实")

        page = await ctx.new_page()
        errors.append(PageErrors(page))
        await page.goto("/directory.html")
        await expect(tid(page, "manage-nav")).to_be_visible()
        await expect(tid(page, "stale-count")).to_have_attribute("data-count", "1")
        stale = page.locator('[data-testid="dir-row"][data-stale="1"]')
        await expect(stale).to_have_count(1)
        await expect(stale).to_have_attribute("data-name", stale_name)
        await expect(stale.get_by_test_id("stale-flag")).to_be_visible()
        # Stale first: the work to do is at the top.
        await expect(tid(page, "dir-row").first).to_have_attribute("data-stale", "1")

        # Someone rang the number: verified today, the flag goes.
        await stale.get_by_test_id("dir-verified").click()
        await expect(page.locator('[data-testid="dir-row"][data-stale="1"]')).to_have_count(0)
        await expect(tid(page, "stale-count")).to_be_hidden()

        # A new local entry with hours and region counts as verified by whoever adds it.
        await tid(page, "dir-add").click()
        await tid(page, "dir-name").fill("区职工服务中心心理驿站")
        await tid(page, "dir-phone").fill("010-12345678")
        await tid(page, "dir-kind").select_option("counseling")
        await tid(page, "dir-hours").fill("周一至周五 9:00–17:00")
        await tid(page, "dir-region").fill("朝阳区")
        await tid(page, "dir-save").click()
        row = page.locator('[data-testid="dir-row"][data-name="区职工服务中心心理驿站"]')
        await expect(row).to_have_attribute("data-stale", "0")
        await expect(row).to_contain_text("朝阳区")

        # 91 days on, the new entry is flagged too.
        later = NOW + dt.timedelta(days=91)
        web.node.clock = lambda: later
        await pool.execute("UPDATE sessions SET expires_at = $1", later + dt.timedelta(hours=1))
        await page.reload()
        await expect(row).to_have_attribute("data-stale", "1")
        for e in errors:
            e.assert_clean()
    finally:
        await ctx.close()
        await sup.close()
