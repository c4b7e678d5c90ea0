"""The adversaries of docs/SECURITY.md, each tried from outside as a new user would.

Personas: "knows the number" (signs in with the victim's ID number on their own device),
"another worker", "a counselor not assigned", "a worker's token used as staff". Each of
the ten results measured in issue 16 has a test here named `test_finding_<n>_…`; each of
the seven found afterwards by the outside red team, `test_redteam_<n>_…`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from typing import Any

import httpx
import pytest

from tests.clients import PASSWORD, Worker, WsClient, make_staff, matched_pair
from tests.conftest import ORIGIN

WRONG = "13579246"  # a code of the right shape that nobody was given


async def drain(ws: WsClient, seconds: float = 0.6) -> list[dict[str, Any]]:
    """Every frame that reaches `ws` within `seconds`."""
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            frames.append(await ws.recv(left))
        except TimeoutError:
            break
    return frames


async def victim_with_pin(node) -> tuple[Worker, WsClient, Any, WsClient, str, str]:
    """A worker matched from their own phone who then got a code from that session."""
    worker, wws, counselor, cws, conv = await matched_pair(node)
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "v1", "text": "秘密"})
    await wws.expect("ack", client_id="v1")
    r = await worker.http.post("/api/worker/pin", json={})
    assert r.status_code == 201, r.text
    return worker, wws, counselor, cws, conv, r.json()["pin"]


# ---- 1. history takeover ---------------------------------------------------------------------


async def test_finding_1_number_only_session_cannot_set_a_pin_or_read(node) -> None:
    victim, vws, counselor, _cws, conv = await matched_pair(node)
    await vws.send({"type": "send", "conversation_id": conv, "client_id": "v1", "text": "秘密"})
    await vws.expect("ack", client_id="v1")

    knows = Worker(node.base, number=victim.number)
    assert (await knows.sign_in()).status_code == 201
    r = await knows.http.post("/api/worker/pin", json={})
    assert r.status_code == 403 and r.json()["code"] == "history_locked"
    # Nor does a code the victim never got open anything.
    assert (await knows.sign_in(pin=WRONG)).status_code == 401
    # Signing in again from the same browser holds only what that browser started.
    again = await knows.sign_in()
    assert again.status_code == 201
    history = await knows.http.get("/api/worker/history")
    assert history.status_code in (200, 403)
    if history.status_code == 200:
        assert history.json()["conversations"] == []
    kws = await knows.connect()
    await kws.send({"type": "send", "conversation_id": conv, "client_id": "k1", "text": "x"})
    assert (await kws.expect("error"))["code"] == "not_found"
    await kws.send({"type": "sync", "conversation_id": conv, "after_seq": 0})
    assert (await kws.expect("error"))["code"] == "not_found"
    assert all(f.get("type") != "message" for f in await drain(kws, 0.3))
    for c in (victim, knows, counselor):
        await c.close()


# ---- 2. live eavesdropping -------------------------------------------------------------------


async def test_finding_2_a_number_only_socket_hears_nothing_of_the_victims_chat(node) -> None:
    counselor = await make_staff(node)
    cws = await counselor.connect()
    await counselor.on_duty()
    victim = Worker(node.base)
    await victim.sign_in()
    knows = Worker(node.base, number=victim.number)
    await knows.sign_in()
    kws = await knows.connect()

    vws = await victim.connect()
    conv = (await victim.request_chat())["conversation_id"]
    await vws.expect("matched")
    await cws.expect("assigned")
    await vws.send({"type": "send", "conversation_id": conv, "client_id": "v1", "text": "秘密"})
    await cws.expect("message", seq=1)
    await cws.send({"type": "send", "conversation_id": conv, "client_id": "c1", "text": "我在"})
    await vws.expect("message", seq=2)
    heard = await drain(kws)
    assert not [f for f in heard if f.get("conversation_id") == conv]
    assert not [f for f in heard if f.get("type") in ("matched", "message", "queued", "queue")]
    for c in (victim, knows, counselor):
        await c.close()


async def test_another_worker_hears_nothing_and_cannot_rate(node) -> None:
    victim, vws, counselor, _cws, conv = await matched_pair(node)
    other = Worker(node.base)
    await other.sign_in()
    ows = await other.connect()
    await ows.send({"type": "typing", "conversation_id": conv})
    assert (await ows.expect("error"))["code"] == "not_found"
    await vws.send({"type": "end", "conversation_id": conv})
    await vws.expect("ended")
    r = await other.http.post(f"/api/worker/conversations/{conv}/rating", json={"score": 1})
    assert r.status_code == 404
    for c in (victim, other, counselor):
        await c.close()


# ---- 3. hijack -------------------------------------------------------------------------------


async def test_finding_3_number_only_session_cannot_detect_or_end_the_victims_chat(node) -> None:
    victim, vws, counselor, _cws, conv = await matched_pair(node)
    knows = Worker(node.base, number=victim.number)
    await knows.sign_in()
    me = (await knows.http.get("/api/worker/me")).json()
    assert me["open_conversation"] is None
    kws = await knows.connect()
    welcome = kws.frames[0]
    assert welcome["conversation"] is None and not welcome.get("open_elsewhere")
    await kws.send({"type": "request_chat", "replace": True})
    queued = await kws.expect("queued")
    assert queued["conversation_id"] != conv
    # The victim's conversation goes on; their socket learns nothing of the other one.
    heard = await drain(vws)
    assert not [f for f in heard if f.get("type") in ("ended", "matched", "queued")]
    await vws.send({"type": "send", "conversation_id": conv, "client_id": "v2", "text": "还在"})
    assert (await vws.expect("ack", client_id="v2"))["duplicate"] is False
    for c in (victim, knows, counselor):
        await c.close()


# ---- 4. a worker's token used as staff -------------------------------------------------------


STAFF_READS = ["/api/staff/me", "/api/referrals/resources", "/api/roster/shifts",
               "/api/roster/patterns", "/api/roster/changes"]


async def test_finding_4_a_workers_token_is_refused_by_every_staff_route(node) -> None:
    worker = Worker(node.base)
    await worker.sign_in()
    token = worker.http.cookies.get("yz_w")
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN}) as h:
        for path in STAFF_READS:
            bearer = await h.get(path, headers={"Authorization": f"Bearer {token}"})
            assert bearer.status_code == 401, path
            cookie = await h.get(path, headers={"Cookie": f"yz_s={token}"})
            assert cookie.status_code == 401, path
        put = await h.put("/api/staff/me", json={"display_name": "x"},
                          headers={"Authorization": f"Bearer {token}"})
        assert put.status_code == 401
    await worker.close()


async def test_a_staff_token_is_refused_by_worker_routes(node) -> None:
    counselor = await make_staff(node)
    token = counselor.http.cookies.get("yz_s")
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN}) as h:
        for path in ("/api/worker/me", "/api/worker/history"):
            r = await h.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, path
            r = await h.get(path, headers={"Cookie": f"yz_w={token}"})
            assert r.status_code == 401, path
    await counselor.close()


async def test_a_counselor_not_assigned_reads_nothing(node) -> None:
    victim, vws, counselor, cws, conv = await matched_pair(node)
    await vws.send({"type": "send", "conversation_id": conv, "client_id": "v1", "text": "秘密"})
    await cws.expect("message", seq=1)
    stranger = await make_staff(node)
    sws = await stranger.connect()
    for frame in ({"type": "sync", "conversation_id": conv, "after_seq": 0},
                  {"type": "send", "conversation_id": conv, "client_id": "s1", "text": "x"},
                  {"type": "end", "conversation_id": conv}):
        await sws.send(frame)
        assert (await sws.expect("error"))["code"] == "not_found"
    for path in (f"/api/staff/conversations/{conv}/messages",
                 f"/api/staff/conversations/{conv}/note"):
        assert (await stranger.http.get(path)).status_code == 404
    assert all(f.get("type") != "message" for f in await drain(sws, 0.3))
    for c in (victim, counselor, stranger):
        await c.close()


# ---- 5. PIN oracle ---------------------------------------------------------------------------


async def test_finding_5_pin_answers_are_identical_whether_or_not_a_pin_exists(node) -> None:
    with_pin, _wws, counselor, _cws, _, _code = await victim_with_pin(node)
    without = Worker(node.base)
    await without.sign_in()
    answers = []
    for number in (with_pin.number, without.number):
        knows = Worker(node.base, number=number)
        first = await knows.sign_in()
        seen = [first.status_code, first.json()["history_access"], first.json()["pin_set"]]
        for body in ({}, {"pin": "1"}, {"pin": WRONG}):
            r = await knows.http.post("/api/worker/pin", json=body)
            seen.append((r.status_code, r.json().get("code")))
        wrong = await knows.sign_in(pin=WRONG)
        seen.append((wrong.status_code, wrong.json().get("code")))
        answers.append(seen)
        await knows.close()
    assert answers[0] == answers[1]
    for c in (with_pin, without, counselor):
        await c.close()


# ---- 6. lockout as a weapon ------------------------------------------------------------------


async def test_finding_6_wrong_pins_never_lock_the_real_worker_out(node) -> None:
    victim, _vws, counselor, _cws, _conv, code = await victim_with_pin(node)
    for i in range(8):
        guesser = Worker(node.base, number=victim.number)
        guesser.http.headers["X-Forwarded-For"] = f"203.0.113.{i + 1}"
        await guesser.sign_in(pin=f"{13579000 + i:08d}")
        await guesser.close()
    # The phone that holds the device credential: never slowed, code or not.
    r = await victim.sign_in(pin=code)
    assert r.status_code == 201 and r.json()["history_access"] is True
    r = await victim.sign_in()
    assert r.status_code == 201 and r.json()["history_access"] is True
    # A new phone with the right PIN is slowed by seconds, not locked out for an hour.
    new_phone = Worker(node.base, number=victim.number)
    r = await new_phone.sign_in(pin=code)
    if r.status_code == 429:
        assert int(r.headers["Retry-After"]) <= 60
    else:
        assert r.status_code == 201 and r.json()["history_access"] is True
    for c in (victim, new_phone, counselor):
        await c.close()


# ---- 7. malformed input: a clear 4xx, never a 500 --------------------------------------------


def deep(n: int) -> str:
    return "[" * n + "]" * n


async def test_finding_7_malformed_input_gets_a_4xx_and_logs_no_exception(
        node, caplog: pytest.LogCaptureFixture) -> None:
    supervisor = await make_staff(node, role="supervisor")
    admin = await make_staff(node, role="admin")
    victim, vws, counselor, _cws, conv = await matched_pair(node)
    await vws.send({"type": "end", "conversation_id": conv})
    await vws.expect("ended")
    caplog.set_level(logging.ERROR)
    raw_json = {"Content-Type": "application/json"}
    cases: list[tuple[httpx.AsyncClient, str, str, Any]] = [
        (victim.http, "POST", "/api/worker/session", deep(100_000)),
        (victim.http, "POST", "/api/staff/session", deep(100_000)),
        (victim.http, "POST", "/api/staff/session",
         {"username": "a\x00b", "password": PASSWORD}),
        (counselor.http, "PUT", "/api/staff/me", {"display_name": "名\x00字"}),
        (counselor.http, "PUT", f"/api/staff/conversations/{conv}/note",
         {"topics": ["睡\x00眠"], "risk_level": "none", "text": ""}),
        (counselor.http, "PUT", f"/api/staff/conversations/{conv}/note",
         '{"topics": [], "risk_level": "none", "text": "\\ud800"}'),
        (victim.http, "POST", f"/api/worker/conversations/{conv}/rating",
         '{"score": 4, "comment": "\\udc00"}'),
        (counselor.http, "GET", f"/api/staff/conversations/{conv}/messages?after={10**23}", None),
        (supervisor.http, "POST", f"/api/supervisor/followups/{10**20}/done", {}),
        (supervisor.http, "GET", "/api/roster/records?week=9999-W52", None),
        (supervisor.http, "POST", "/api/roster/changes",
         {"staff_id": counselor.id, "date": -1, "kind": "leave"}),
        (supervisor.http, "POST", "/api/roster/changes",
         {"staff_id": counselor.id, "date": 2**70, "kind": "leave"}),
        (admin.http, "POST", "/api/referrals/resources",
         {"name": "热线\x00", "kind": "hotline", "phone": "12356"}),
    ]
    for client, method, path, body in cases:
        content = body if isinstance(body, str) else None
        r = await client.request(method, path, content=content, headers=raw_json,
                                 json=None if content is not None or body is None else body)
        assert 400 <= r.status_code < 500, (method, path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json"), path
    # Over WebSocket: a NUL in a watch reason is a bad frame, not "unavailable, retry".
    sws = await supervisor.connect()
    await sws.send({"type": "watch", "conversation_id": conv, "reason": "原因\x00"})
    err = await sws.expect("error")
    assert err["code"] != "unavailable"
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    for c in (victim, counselor, supervisor, admin):
        await c.close()


# ---- 8. cookies Secure behind TLS ------------------------------------------------------------


async def test_finding_8_cookies_are_secure_behind_a_tls_proxy(node) -> None:
    worker = Worker(node.base)
    worker.http.headers["X-Forwarded-Proto"] = "https"
    r = await worker.sign_in()
    assert r.status_code == 201
    cookies = r.headers.get_list("set-cookie")
    assert len(cookies) == 2 and all("secure" in c.lower() for c in cookies)
    await worker.close()
    counselor = await make_staff(node)
    async with httpx.AsyncClient(base_url=node.base, headers={
            "Origin": ORIGIN, "X-Forwarded-Proto": "https"}) as h:
        r = await h.post("/api/staff/session",
                         json={"username": counselor.username, "password": PASSWORD})
        assert r.status_code == 201 and "secure" in r.headers["set-cookie"].lower()
    await counselor.close()


async def test_the_secure_cookie_setting_needs_no_proxy(node_factory) -> None:
    node = await node_factory(secure_cookies=True)
    worker = Worker(node.base)
    r = await worker.sign_in()
    assert all("secure" in c.lower() for c in r.headers.get_list("set-cookie"))
    await worker.close()


async def test_an_untrusted_peer_cannot_claim_tls(node_factory) -> None:
    node = await node_factory(trusted_proxies=())
    worker = Worker(node.base)
    worker.http.headers["X-Forwarded-Proto"] = "https"
    r = await worker.sign_in()
    assert not any("secure" in c.lower() for c in r.headers.get_list("set-cookie"))
    await worker.close()


# ---- 9. file modes ---------------------------------------------------------------------------


def test_finding_9_data_folders_are_private(server_tmp) -> None:
    import redis

    from chat_server.ops.embedded import EmbeddedServers

    var = server_tmp / "var"
    var.mkdir(mode=0o755)  # as an older version left it
    servers = EmbeddedServers(var).start()
    try:
        client = redis.Redis.from_url(servers.redis_url)
        client.set("k", "v")
        client.execute_command("BGREWRITEAOF")
        client.close()
    finally:
        servers.stop()
    # As root the embedded PostgreSQL runs as its own user, who must traverse var/.
    assert stat.S_IMODE(var.stat().st_mode) == (0o711 if os.geteuid() == 0 else 0o700)
    for folder in (var / "valkey", var / "postgres"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder.name
    files = [p for p in (var / "valkey").rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


# ---- 10. sign-in slowed per account and per number -------------------------------------------


async def test_finding_10_staff_password_guessing_is_slowed_per_account(node) -> None:
    counselor = await make_staff(node)
    answers = []
    for address in range(5):
        async with httpx.AsyncClient(base_url=node.base, headers={
                "Origin": ORIGIN, "X-Forwarded-For": f"198.51.100.{address + 1}"}) as h:
            for i in range(20):
                r = await h.post("/api/staff/session",
                                 json={"username": counselor.username, "password": f"guess {i}"})
                answers.append(r.status_code)
    assert answers.count(401) <= 10 and answers.count(429) >= 90
    # An unknown name is slowed the same way: the answers do not tell names apart.
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN}) as h:
        unknown = [(await h.post("/api/staff/session", json={
            "username": "nobody-here", "password": f"guess {i}"})).status_code
            for i in range(12)]
    assert unknown.count(429) >= 1
    await counselor.close()


async def test_pin_guessing_is_slowed_per_number_across_addresses(node) -> None:
    victim, _vws, counselor, _cws, _conv, _code = await victim_with_pin(node)
    codes = []
    for i in range(12):
        guesser = Worker(node.base, number=victim.number)
        guesser.http.headers["X-Forwarded-For"] = f"192.0.2.{i + 1}"
        r = await guesser.sign_in(pin=f"{13579000 + i:08d}")
        codes.append(json.loads(r.text).get("code"))
        await guesser.close()
    assert codes.count("pin_incorrect") <= 6 and "rate_limited" in codes
    for c in (victim, counselor):
        await c.close()


# ---- the worker who lost the phone and never set a PIN --------------------------------------


async def test_a_lost_phone_means_a_fresh_start_and_the_old_chat_ends_when_silent(node) -> None:
    import datetime as dt

    lost, lws, counselor, cws, conv = await matched_pair(node)
    await lws.send({"type": "send", "conversation_id": conv, "client_id": "l1", "text": "旧"})
    await lws.expect("ack")
    await lws.close()  # the phone is gone
    new_phone = Worker(node.base, number=lost.number)
    r = await new_phone.sign_in()
    assert r.json()["history_access"] is False
    nws = await new_phone.connect()
    assert nws.frames[0]["conversation"] is None  # a fresh start
    # After an hour with nobody writing, the old conversation ends by itself.
    later = node.node.now() + dt.timedelta(seconds=node.settings.silent_end_s + 60)
    node.node.clock = lambda: later
    await node.parts.core.sweeps.sweep_silent()
    ended = await cws.expect("ended", conversation_id=conv)
    assert ended["by"] == "timeout"
    assert all(f.get("conversation_id") != conv for f in await drain(nws, 0.3))
    for c in (lost, new_phone, counselor):
        await c.close()


# ---- red team, after issue 16 ----------------------------------------------------------------


def number_derived(number: str) -> list[str]:
    """The PINs a worker picks from their own ID number, as the red team tried them."""
    area, born, tail = number[:6], number[6:14], number[-6:]
    yy, mm, dd = born[2:4], born[4:6], born[6:8]
    return [yy + mm + dd, mm + dd + yy, dd + mm + yy, born[:6], tail, area, born,
            number[-8:], mm + dd + born[:4]]


def assigned_alias(cws: WsClient, conv: str) -> str:
    return [f for f in cws.frames if f.get("type") == "assigned"
            and f["conversation"]["id"] == conv][-1]["conversation"]["alias"]


async def test_redteam_1_codes_are_drawn_by_the_server_never_from_the_number(node) -> None:
    victim, vws, counselor, _cws, conv = await matched_pair(node)
    await vws.send({"type": "send", "conversation_id": conv, "client_id": "v1", "text": "秘密"})
    await vws.expect("ack", client_id="v1")
    # No worker-chosen PIN is accepted any more, least of all one from the number.
    for chosen in number_derived(victim.number):
        r = await victim.http.post("/api/worker/pin", json={"pin": chosen})
        assert r.status_code == 400 and r.json()["field"] == "pin"
    first = await victim.http.post("/api/worker/pin", json={})
    assert first.status_code == 201
    code = first.json()["pin"]
    assert len(code) == 8 and code.isdigit() and code not in number_derived(victim.number)
    # A new code replaces the old one: what is written down last is what works.
    r = await victim.http.post("/api/worker/pin", json={})
    assert r.status_code == 201 and r.json()["pin"] != code
    code = r.json()["pin"]
    # Whoever knows the number tries what it suggests: nothing opens, no 5xx.
    for i, guess in enumerate(number_derived(victim.number)[:5]):
        knows = Worker(node.base, number=victim.number)
        knows.http.headers["X-Forwarded-For"] = f"198.51.100.{i + 1}"
        r = await knows.sign_in(pin=guess)
        assert r.status_code in (400, 401), r.status_code
        await knows.close()
    # The worker on a new phone, with the code as written down (spaces allowed).
    new_phone = Worker(node.base, number=victim.number)
    r = await new_phone.sign_in(pin=f"{code[:4]} {code[4:]}")
    assert r.status_code == 201 and r.json()["history_access"] is True
    for c in (victim, new_phone, counselor):
        await c.close()


async def test_redteam_2_a_number_only_session_chats_under_another_alias(node) -> None:
    victim, _vws, counselor, cws, conv = await matched_pair(node)
    victim_alias = assigned_alias(cws, conv)
    assert victim_alias == victim.alias
    knows = Worker(node.base, number=victim.number)
    r = await knows.sign_in()
    assert r.json()["alias"] != victim_alias
    kws = await knows.connect()
    assert kws.frames[0]["alias"] != victim_alias
    mine = (await knows.request_chat())["conversation_id"]
    await cws.expect("assigned")
    assert assigned_alias(cws, mine) not in ("", victim_alias)
    # The worker's own browser keeps its alias; a new phone with the code takes it over.
    again = await victim.sign_in()
    assert again.json()["alias"] == victim_alias
    code = (await victim.http.post("/api/worker/pin", json={})).json()["pin"]
    new_phone = Worker(node.base, number=victim.number)
    assert (await new_phone.sign_in(pin=code)).json()["alias"] == victim_alias
    for c in (victim, knows, new_phone, counselor):
        await c.close()


async def test_redteam_3_guesses_never_slow_the_device_holder_making_a_code(node) -> None:
    victim, _vws, counselor, _cws, _conv, _code = await victim_with_pin(node)
    for i in range(8):
        guesser = Worker(node.base, number=victim.number)
        guesser.http.headers["X-Forwarded-For"] = f"203.0.113.{i + 1}"
        await guesser.sign_in(pin=f"{24680000 + i:08d}")
        await guesser.close()
    # Making a code is no guess: never slowed, however often, whatever guessers did.
    made = [await victim.http.post("/api/worker/pin", json={}) for _ in range(8)]
    assert [r.status_code for r in made] == [201] * 8
    # ...and it adds nothing to the number's slow-down: a fresh number's new phone is
    # not slowed after its worker made eight codes.
    other, ows, c2, _c2ws, conv2 = await matched_pair(node)
    await ows.send({"type": "end", "conversation_id": conv2})
    await ows.expect("ended")
    codes = [(await other.http.post("/api/worker/pin", json={})).json()["pin"]
             for _ in range(8)]
    phone = Worker(node.base, number=other.number)
    r = await phone.sign_in(pin=codes[-1])
    assert r.status_code == 201 and r.json()["history_access"] is True
    for c in (victim, counselor, other, c2, phone):
        await c.close()


async def test_redteam_4_the_address_limit_never_keeps_the_workers_own_device_out(
        node_factory) -> None:
    node = await node_factory(signin_per_minute_per_ip=3)
    victim = Worker(node.base)
    victim.http.headers["X-Forwarded-For"] = "192.0.2.50"  # one factory NAT for all
    assert (await victim.sign_in()).status_code == 201
    # Someone behind the same address uses the minute's sign-ins up.
    codes = []
    for _ in range(4):
        knows = Worker(node.base, number=victim.number)
        knows.http.headers["X-Forwarded-For"] = "192.0.2.50"
        codes.append((await knows.sign_in()).status_code)
        await knows.close()
    assert codes[-1] == 429
    # The worker's browser, showing its device credential for this number, gets in.
    r = await victim.sign_in()
    assert r.status_code == 201 and r.json()["history_access"] is True
    # Its credential does not exempt a sign-in to another number.
    victim.number = Worker(node.base).number
    assert (await victim.sign_in()).status_code == 429
    await victim.close()


async def test_redteam_5_staff_sign_out_refuses_a_workers_token_and_no_token(node) -> None:
    worker = Worker(node.base)
    await worker.sign_in()
    token = worker.http.cookies.get("yz_w")
    counselor = await make_staff(node)
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN}) as h:
        for headers in ({"Authorization": f"Bearer {token}"}, {"Cookie": f"yz_s={token}"}, {}):
            r = await h.post("/api/staff/signout", json={}, headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "unauthenticated", headers
    # The worker's session was not touched; the staff member signs out as before.
    assert (await worker.http.get("/api/worker/me")).status_code == 200
    assert (await counselor.http.post("/api/staff/signout", json={})).status_code == 204
    assert (await counselor.http.get("/api/staff/me")).status_code == 401
    for c in (worker, counselor):
        await c.close()


@pytest.mark.parametrize(("proto", "secure"), [
    ("HTTPS", True), ("http, https", True), ("Http,HTTPS", True), ("https, http", False),
    ("http", False)])
async def test_redteam_6_forwarded_proto_is_read_as_proxies_write_it(
        node, proto: str, secure: bool) -> None:
    worker = Worker(node.base)
    worker.http.headers["X-Forwarded-Proto"] = proto
    r = await worker.sign_in()
    assert r.status_code == 201
    cookies = r.headers.get_list("set-cookie")
    assert cookies and all(("secure" in c.lower()) is secure for c in cookies)
    await worker.close()


async def test_redteam_7_a_header_uvicorn_cannot_parse_gets_its_plain_400(
        node, caplog: pytest.LogCaptureFixture) -> None:
    """Documented exception (PROTOCOL.md): refused by uvicorn before the app sees it."""
    caplog.set_level(logging.ERROR)
    host, port = node.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Bad: a\x7fb\r\n\r\n")
    await writer.drain()
    head = (await asyncio.wait_for(reader.read(4096), 5)).decode("latin1")
    writer.close()
    await writer.wait_closed()
    assert head.startswith("HTTP/1.1 400") and "text/plain" in head.lower()
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
