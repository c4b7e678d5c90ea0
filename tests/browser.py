"""Browser test helpers: one headless Debian Chromium per test session (Playwright's async
API in the session's event loop, where the app nodes run too), a fresh context per page,
and the steps every page test repeats (sign-ins, going on duty).

Bring the fixtures into a test module with
`from tests import browser as _browser` and `browser, web = _browser.browser, _browser.web`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.clients import PASSWORD, Staff
from tests.conftest import ORIGIN, RunningNode

PHONE = {"width": 360, "height": 640}
DESKTOP = {"width": 1366, "height": 800}
PHONE_UA = ("Mozilla/5.0 (Linux; Android 13; M2012K11AC) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-dev-shm-usage"]
# Page steps wait this long at most (a slow CI machine, two cores, three pages at once).
STEP_MS = 10_000
expect.set_options(timeout=STEP_MS)


def chromium_path() -> str:
    """Debian's chromium (never a Playwright download). Missing is a failure, not a skip:
    `scripts/ensure-chromium` (run by `make test` and .ci/run) installs it."""
    path = os.environ.get("YIZHAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.fail("chromium is not installed: run scripts/ensure-chromium as root "
                    "(apt-get install chromium), or set YIZHAN_CHROMIUM", pytrace=False)
    return path


@contextlib.asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    pw = await async_playwright().start()
    try:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await pw.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with launch() as b:
        yield b


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_web_node(factory: Callable[..., Awaitable[RunningNode]],
                         **overrides: Any) -> RunningNode:
    """A node whose pages work in a browser: its exact origin (with the port) is allowed,
    and so is the protocol clients' ORIGIN (tests/clients.py)."""
    for _ in range(5):
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        try:
            return await factory(port=port, allowed_origins=(origin, ORIGIN), **overrides)
        except (OSError, SystemExit):  # somebody took the port meanwhile: another one
            continue
    raise RuntimeError("no free port for a web node")


@pytest.fixture
async def web(node_factory: Callable[..., Awaitable[RunningNode]]) -> RunningNode:
    return await start_web_node(node_factory)


async def phone(browser: Browser, node: RunningNode) -> BrowserContext:
    """A worker's phone: 360×640, touch, a mobile user agent, device scale 1."""
    return await browser.new_context(
        base_url=node.base, viewport=PHONE, screen=PHONE, user_agent=PHONE_UA, is_mobile=True,
        has_touch=True, device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai")


async def desktop(browser: Browser, node: RunningNode) -> BrowserContext:
    return await browser.new_context(
        base_url=node.base, viewport=DESKTOP, device_scale_factor=1, locale="zh-CN",
        timezone_id="Asia/Shanghai")


class PageErrors:
    """Collects dialogs (auto-dismissed), uncaught page errors and console errors (the
    pages catch exceptions in frame handlers and log them: a swallowed bug is a bug)."""

    def __init__(self, page: Page) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)[:300]))
        page.on("console", self._console)

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.type)
        await dialog.dismiss()

    def _console(self, msg: Any) -> None:
        # A failed request is logged by the browser itself (e.g. the 401 of /api/worker/me
        # before sign-in): expected answers, not page bugs.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text[:300])

    def assert_clean(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


async def worker_signs_in(page: Page, number: str) -> None:
    """welcome → consent → sign-in → ready. The number is typed, never printed."""
    await page.goto("/")
    await expect(tid(page, "screen-welcome")).to_be_visible()
    await tid(page, "welcome-start").click()
    await expect(tid(page, "screen-consent")).to_be_visible()
    await tid(page, "consent-check").check()
    await tid(page, "consent-accept").click()
    await expect(tid(page, "screen-signin")).to_be_visible()
    await tid(page, "number-input").fill(number)
    await expect(tid(page, "number-ok")).to_be_visible()
    await tid(page, "signin-submit").click()
    await expect(tid(page, "screen-ready")).to_be_visible()
    await expect(tid(page, "request-chat")).to_be_enabled()


async def staff_signs_in(page: Page, path: str, staff: Staff) -> None:
    await page.goto(path)
    await tid(page, "username").fill(staff.username)
    await tid(page, "password").fill(PASSWORD)
    await tid(page, "staff-signin").click()
    await expect(tid(page, "conn-state")).to_have_attribute("data-state", "ready")


async def counselor_on_duty(page: Page) -> None:
    await tid(page, "duty-toggle").click()
    await expect(tid(page, "duty-toggle")).to_have_attribute("aria-pressed", "true")


async def send_text(page: Page, text: str) -> None:
    """Type and send one chat message (both the worker's and the console's composer)."""
    await tid(page, "chat-input").fill(text)
    await tid(page, "chat-send").click()


async def message_texts(page: Page, scope: Any = None) -> list[tuple[int, str, str]]:
    """(seq, from, text) of every displayed message with a seq, in DOM order."""
    root = scope or page
    return await root.locator('[data-testid="message"][data-seq]').evaluate_all(
        """els => els.map(e => [Number(e.dataset.seq), e.dataset.from || '',
                               (e.querySelector('.msg-text') || e).textContent])""")
