"""The reports page in a real browser over a seeded month: every figure on the page is
checked against the seed; the CSV and XLSX exports download, open and match."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests import browser as _browser
from tests.browser import PageErrors, desktop, start_web_node, tid
from tests.clients import make_staff
from tests.ops.test_reports import xlsx_rows
from tests.pages.test_browser_admin import manager_signs_in
from tests.report_seed import EXPECTED, PER_COUNSELOR, SH, seed

browser = _browser.browser  # fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def shown(value: object, key: str) -> str:
    """How the page writes a figure (zh-CN)."""
    if value is None:
        return "<5"
    if isinstance(value, float) and key.endswith(("p50", "p90")):
        n = int(value) if value == int(value) else value
        return f"{n} 秒" if "seconds" in key else f"{n} 分钟"
    return str(value)


async def fetched(page: Page, testid: str) -> bytes:
    async with page.expect_download() as info:
        await tid(page, testid).click()
    path = await (await info.value).path()
    return await asyncio.to_thread(Path(path).read_bytes)


async def test_a_seeded_month_on_the_reports_page(browser, node_factory) -> None:
    web = await start_web_node(node_factory, open_time=dt.time(10, 0))
    web.node.clock = lambda: dt.datetime(2026, 12, 3, 12, 0, tzinfo=SH)
    sup = await make_staff(web, "supervisor")
    a = await make_staff(web, "counselor")
    b = await make_staff(web, "counselor")
    await seed(web.node.services.pool, a.id, b.id, sup.id)
    ctx = await desktop(browser, web)
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        await manager_signs_in(page, "/reports.html?month=2026-11", sup)
        await expect(tid(page, "report-range")).to_have_text("2026-11-01 – 2026-11-30")
        figures = tid(page, "figure")
        await expect(figures).to_have_count(len(EXPECTED))
        on_page = dict(await figures.evaluate_all(
            "els => els.map(e => [e.dataset.key,"
            " e.querySelector('[data-testid=figure-value]').textContent])"))
        assert on_page == {k: shown(v, k) for k, v in EXPECTED.items()}
        rows = tid(page, "per-counselor-row")
        await expect(rows).to_have_count(2)
        texts = await rows.evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent))")
        assert {t[0]: (t[1], t[2]) for t in texts} == {
            k: (str(c), "<5" if m is None else str(m)) for k, (c, m) in PER_COUNSELOR.items()}
        for chart in ("chart-daily", "chart-ratings", "chart-levels"):
            await expect(tid(page, chart).locator("canvas")).to_have_count(1)

        # Exports: the CSV and the workbook hold the same table, with the same figures.
        table = list(csv.reader(io.StringIO((await fetched(page, "export-csv"))
                                            .decode("utf-8-sig"))))
        assert xlsx_rows(await fetched(page, "export-xlsx")) == table
        by_name = {f"{s}.{n}": v for s, n, v in table[1:]}
        for key, value in EXPECTED.items():
            assert by_name[key] == ("" if value is None else str(value)), key
        errors.assert_clean()
    finally:
        await ctx.close()
        for c in (sup, a, b):
            await c.close()
