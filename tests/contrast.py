"""WCAG 2.1 AA contrast, computed in the browser from computed styles: text 4.5:1 (3:1 when
large), and the boundary of form controls 3:1 against what is behind them (1.4.11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

# tests/contrast.js returns a list of failures: {what, text, ratio, need, fg, bg}. Only visible
# elements are checked; one over an image or a gradient is skipped (its background is unknown).
CHECK = (Path(__file__).with_name("contrast.js")).read_text()


async def contrast_failures(page: Page, where: str) -> list[dict[str, Any]]:
    fails = await page.evaluate(CHECK)
    return [{"where": where, **f} for f in fails]
