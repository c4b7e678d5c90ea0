"""Chinese renders as Chinese: a CJK font is installed (Debian's fonts-noto-cjk, by
scripts/ensure-chromium and .ci/run), and the detector itself is shown to catch tofu in a
browser that sees no CJK font."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests import browser as _browser
from tests.browser import CHROMIUM_ARGS, chromium_path, phone, tid

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]

GLYPHS = Path(__file__).parents[1].joinpath("glyphs.js").read_text()
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
HAVE_DEJAVU = DEJAVU.is_dir()  # read once, not in the event loop


async def han_rendering(page: Page) -> dict[str, Any]:
    family = await page.evaluate("getComputedStyle(document.body).fontFamily")
    return await page.evaluate(GLYPHS, family)


async def platform_fonts(page: Page, selector: str) -> list[dict[str, Any]]:
    """The fonts Chromium really used for a node's text (DevTools CSS domain)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument")
    node = await cdp.send("DOM.querySelector",
                          {"nodeId": root["root"]["nodeId"], "selector": selector})
    fonts = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    return fonts["fonts"]


async def test_chinese_renders_with_a_cjk_font_not_as_boxes(browser, web) -> None:
    ctx = await phone(browser, web)
    try:
        page = await ctx.new_page()
        await page.goto("/")
        await expect(tid(page, "screen-welcome")).to_be_visible()
        seen = await han_rendering(page)
        assert seen["blank"] == 0 and seen["asBox"] == 0, seen
        assert seen["distinct"] == seen["chars"], seen
        fonts = await platform_fonts(page, "[data-screen=welcome] h1")
        families = " ".join(f["familyName"] for f in fonts)
        assert any(k in families for k in ("CJK", "Han", "WenQuanYi", "Hei", "Fallback")), (
            f"no CJK font renders the welcome heading: {families}; "
            "install Debian's fonts-noto-cjk (scripts/ensure-chromium does as root)")
    finally:
        await ctx.close()


async def test_the_glyph_check_catches_tofu(tmp_path, web) -> None:
    # A browser whose fontconfig knows Latin fonts only: Chinese must come out as boxes.
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{DEJAVU}</dir>"
        f"<cachedir>{tmp_path}/cache</cachedir></fontconfig>")
    if not HAVE_DEJAVU:
        pytest.skip("no DejaVu fonts to build a CJK-less browser from")
    pw = await async_playwright().start()
    try:
        bare = await pw.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS,
            env={**os.environ, "FONTCONFIG_FILE": str(conf)})
        try:
            page = await bare.new_page()
            await page.goto(web.base + "/")
            await expect(tid(page, "screen-welcome")).to_be_visible()
            seen = await han_rendering(page)
            assert seen["asBox"] > 0 or seen["distinct"] < seen["chars"], seen
        finally:
            await bare.close()
    finally:
        await pw.stop()
