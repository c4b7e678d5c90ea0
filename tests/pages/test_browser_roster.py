"""The roster editor in a real browser: a shift added in the week grid changes the hourly
coverage; CSV export and import; a counselor with no shift is told so, with the next one."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from tests import browser as _browser
from tests.browser import PageErrors, desktop, start_web_node, tid
from tests.clients import make_staff
from tests.pages.test_browser_admin import manager_signs_in

browser = _browser.browser  # fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SH = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 16, 0, tzinfo=SH)


async def test_edit_a_shift_and_see_coverage_change(browser, node_factory) -> None:
    web = await start_web_node(node_factory, duty_requires_roster=True,
                               open_time=dt.time(10, 0))
    web.node.clock = lambda: NOW
    sup = await make_staff(web, "supervisor")
    lin = await make_staff(web, "counselor", name="lin")
    ctx = await desktop(browser, web)
    contexts = [ctx]
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        await manager_signs_in(page, f"/roster.html?week={MONDAY}", sup)
        await expect(tid(page, "week-label")).to_contain_text("2026-11-30")
        tuesday_10 = page.locator('[data-testid="heat-cell"][data-date="2026-12-01"]'
                                  '[data-hour="10:00"]')
        await expect(tuesday_10).to_have_attribute("data-counselors", "0")
        gaps_before = int(await tid(page, "gap-count").get_attribute("data-gaps") or 0)
        assert gaps_before == 7 * 14  # nobody rostered: every service hour is a gap
        await expect(tid(page, "gap").first).to_be_visible()

        # Add a shift for lin on Tuesday 10:00–14:00 in the grid.
        cell = page.locator('[data-testid="grid-cell"][data-username="lin"]'
                            '[data-date="2026-12-01"]')
        await cell.click()
        await expect(tid(page, "cell-editor")).to_be_visible()
        await tid(page, "cell-start").select_option("10:00")
        await tid(page, "cell-end").select_option("14:00")
        await tid(page, "cell-extra").click()
        await expect(cell.get_by_test_id("shift")).to_have_text("10:00–14:00")
        await expect(tuesday_10).to_have_attribute("data-counselors", "1")
        # A weekly pattern from the form: Mondays 18:00–22:00.
        await tid(page, "pattern-person").select_option(label=await page.locator(
            '[data-testid="grid-row"][data-username="lin"] th').evaluate(
                "e => e.firstChild.textContent"))
        await page.locator("#pf-d-mon").check()
        await tid(page, "pattern-start").select_option("18:00")
        await tid(page, "pattern-end").select_option("22:00")
        await tid(page, "pattern-add").click()
        await expect(tid(page, "pattern")).to_have_count(1)
        monday = page.locator('[data-testid="grid-cell"][data-username="lin"]'
                              '[data-date="2026-11-30"]')
        await expect(monday.get_by_test_id("shift")).to_have_text("18:00–22:00")

        # CSV export: the file holds both shifts.
        async with page.expect_download() as info:
            await tid(page, "csv-export").click()
        path = await (await info.value).path()
        exported = await asyncio.to_thread(Path(path).read_text, encoding="utf-8-sig")
        assert "lin" in exported and "2026-12-01" in exported
        # CSV import: the same file plus a Wednesday morning replaces the week.
        wednesday_10 = page.locator('[data-testid="heat-cell"][data-date="2026-12-02"]'
                                    '[data-hour="10:00"]')
        await expect(wednesday_10).to_have_attribute("data-counselors", "0")
        lines = exported.strip().splitlines()
        row = next(line for line in lines if "2026-12-01" in line).split(",")
        row[0], row[3], row[4] = "2026-12-02", "10:00", "14:00"
        text = "\n".join([*lines, ",".join(row)]) + "\n"
        await tid(page, "csv-file").set_input_files(files=[{
            "name": "roster.csv", "mimeType": "text/csv", "buffer": text.encode()}])
        await expect(tid(page, "csv-status")).to_contain_text(f"已导入 {len(lines)} 个班次")
        await expect(wednesday_10).to_have_attribute("data-counselors", "1")

        # The counselor with no shift now is told so, with the next shift.
        ctx2 = await desktop(browser, web)  # its own cookies: not the supervisor's
        contexts.append(ctx2)
        console = await ctx2.new_page()
        cerrors = PageErrors(console)
        await console.goto("/counselor.html")
        await tid(console, "username").fill(lin.username)
        await tid(console, "password").fill(lin.password)
        await tid(console, "staff-signin").click()
        await expect(tid(console, "conn-state")).to_have_attribute("data-state", "ready")
        await tid(console, "duty-toggle").click()
        toast = tid(console, "toast")
        await expect(toast).to_contain_text("你现在没有排班")
        await expect(toast).to_contain_text("18:00")
        await expect(tid(console, "duty-toggle")).to_have_attribute("aria-pressed", "false")
        errors.assert_clean()
        cerrors.assert_clean()
    finally:
        for c in contexts:
            await c.close()
        for c in (sup, lin):
            await c.close()
