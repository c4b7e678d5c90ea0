"""'Delete my history' in a real browser: the worker confirms, sees what was removed, and
nothing of it stays readable: the privacy scan over PostgreSQL (pg_dump), Redis and the
logs finds neither the words nor the ciphertexts nor the key."""

from __future__ import annotations

import asyncio
import logging

import pytest
from playwright.async_api import expect

from tests import browser as _browser
from tests.browser import PageErrors, phone, send_text, tid, worker_signs_in
from tests.clients import make_staff, resident_id
from tests.test_privacy_dump import pg_dump

browser, web = _browser.browser, _browser.web  # fixtures

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PHRASE = "只想让这段话彻底消失-辛壬癸"
NOTE = "咨询记录里会被销毁的话-子丑"


async def test_delete_my_history_leaves_nothing_readable(
    browser, web, backend_urls, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="yizhan")
    number = resident_id()
    counselor = await make_staff(web)
    cws = await counselor.connect()
    await counselor.on_duty()
    ctx = await phone(browser, web)
    try:
        page = await ctx.new_page()
        errors = PageErrors(page)
        # The phone starts the conversation: it is bound to this device (issue 16's model).
        await worker_signs_in(page, number)
        await tid(page, "request-chat").click()
        conv = (await cws.expect("assigned"))["conversation"]["id"]
        await expect(tid(page, "screen-chat")).to_be_visible()
        await send_text(page, PHRASE)
        await cws.expect("message", seq=1)
        await tid(page, "end-chat").click()
        await tid(page, "confirm-end").click()
        await expect(tid(page, "screen-after")).to_be_visible()
        r = await counselor.http.put(f"/api/staff/conversations/{conv}/note",
                                     json={"topics": [], "risk_level": "none", "text": NOTE})
        assert r.status_code == 200
        pool = web.node.services.pool
        sealed = [bytes(x["ciphertext"]) for x in await pool.fetch(
            "SELECT ciphertext FROM messages WHERE conversation_id = $1::uuid", conv)]
        sealed.append(bytes(await pool.fetchval(
            "SELECT note_ciphertext FROM case_notes WHERE conversation_id = $1::uuid", conv)))
        wrapped = bytes(await pool.fetchval(
            "SELECT k.wrapped FROM data_keys k JOIN conversations c ON c.data_key_id = k.id"
            " WHERE c.id = $1::uuid", conv))

        # Signing in again on this phone: the device proves possession.
        await ctx.clear_cookies(name="yz_w")
        await page.goto("/")
        await tid(page, "welcome-start").click()
        await expect(tid(page, "screen-signin")).to_be_visible()  # consent was kept
        await tid(page, "number-input").fill(number)
        await tid(page, "signin-submit").click()
        await expect(tid(page, "open-history")).to_be_visible()
        await tid(page, "open-history").click()
        await expect(tid(page, "history-item")).to_have_count(1)
        await tid(page, "forget-start").click()
        await tid(page, "forget-confirm").click()
        await expect(tid(page, "forget-result")).to_contain_text(
            "已删除：1 段对话、1 条消息、1 份咨询记录")
        await expect(tid(page, "history-item")).to_have_count(0)
        # Opened again, the history is empty.
        await tid(page, "history-back").click()
        await tid(page, "open-history").click()
        await expect(tid(page, "history-empty")).to_be_visible()
        errors.assert_clean()
    finally:
        await ctx.close()
        await counselor.close()

    dump = await asyncio.to_thread(pg_dump, backend_urls[0])
    assert b"COPY public.messages" in dump  # positive control: a real dump
    for secret in (PHRASE.encode(), NOTE.encode(), wrapped.hex().encode(),
                   *(s.hex().encode() for s in sealed)):
        assert secret not in dump
    redis = web.node.services.redis
    async for key in redis.scan_iter(count=500):
        kind = (await redis.type(key)).decode()
        if kind == "string":
            value = await redis.get(key) or b""
        elif kind == "hash":
            value = repr(await redis.hgetall(key)).encode()
        elif kind == "list":
            value = repr(await redis.lrange(key, 0, -1)).encode()
        elif kind == "zset":
            value = repr(await redis.zrange(key, 0, -1)).encode()
        elif kind == "set":
            value = repr(await redis.smembers(key)).encode()
        else:
            value = b""
        assert PHRASE.encode() not in key + value and NOTE.encode() not in key + value
    assert PHRASE not in caplog.text and NOTE not in caplog.text
    audited = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action ="
                                  " 'worker_deleted_history' AND conversation_id = $1::uuid", conv)
    assert audited == 1
