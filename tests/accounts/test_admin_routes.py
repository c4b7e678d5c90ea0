"""Staff accounts from the admin page: set-up links, TOTP sign-in, roles, the audit viewer."""

from __future__ import annotations

import base64
import datetime as dt

import httpx

from chat_server.accounts import totp
from tests.clients import PASSWORD, Staff, Worker, make_staff
from tests.conftest import ORIGIN

NEW_PASSWORD = "quiet river lantern 42"
STAFF_ROUTES = [
    ("GET", "/api/admin/staff"), ("POST", "/api/admin/staff"),
    ("PATCH", "/api/admin/staff/00000000-0000-0000-0000-000000000000"),
    ("POST", "/api/admin/staff/00000000-0000-0000-0000-000000000000/disable"),
    ("POST", "/api/admin/staff/00000000-0000-0000-0000-000000000000/enable"),
    ("POST", "/api/admin/staff/00000000-0000-0000-0000-000000000000/reset"),
    ("GET", "/api/admin/audit"), ("GET", "/api/reports"), ("GET", "/api/reports.csv"),
    ("GET", "/api/reports.xlsx"), ("GET", "/api/directory"), ("POST", "/api/directory"),
    ("PATCH", "/api/directory/00000000-0000-0000-0000-000000000000"),
    ("POST", "/api/directory/00000000-0000-0000-0000-000000000000/verified"),
    ("GET", "/api/retention"), ("POST", "/api/retention/run"), ("GET", "/api/roster/people"),
]
# Routes counselors may not use but supervisors may (the rest are admin-only).
SUPERVISOR_ROUTES = {"/api/reports", "/api/reports.csv", "/api/reports.xlsx", "/api/directory",
                     "/api/roster/people"}


def secret_of(info: dict) -> bytes:
    text = info["totp"]["secret"].replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


async def set_up(node, admin: Staff, username: str, role: str) -> tuple[bytes, list[str]]:
    made = await admin.http.post("/api/admin/staff", json={
        "username": username, "display_name": "小新", "role": role, "capacity": 3})
    assert made.status_code == 201, made.text
    token = made.json()["setup_url"].split("#t=", 1)[1]
    anon = httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN})
    try:
        info = (await anon.post("/api/staff/setup/info", json={"token": token})).json()
        assert info["username"] == username and info["totp"]["qr"].startswith("data:image/svg")
        secret = secret_of(info)
        code = totp.code_at(secret, node.node.now())
        done = await anon.post("/api/staff/setup/complete",
                               json={"token": token, "password": NEW_PASSWORD, "totp": code})
        assert done.status_code == 200, done.text
        again = await anon.post("/api/staff/setup/complete",
                                json={"token": token, "password": NEW_PASSWORD, "totp": code})
        assert again.status_code == 404 and again.json()["code"] == "link_invalid"
        return secret, done.json()["recovery_codes"]
    finally:
        await anon.aclose()


async def test_create_set_up_and_sign_in_with_totp(node) -> None:
    now = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    node.node.clock = lambda: now
    admin = await make_staff(node, "admin")
    secret, recovery = await set_up(node, admin, "newsup", "supervisor")
    assert len(recovery) == 10
    person = httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN})
    try:
        body = {"username": "newsup", "password": NEW_PASSWORD}
        r = await person.post("/api/staff/session", json=body)
        assert r.status_code == 401 and r.json()["code"] == "totp_required"
        r = await person.post("/api/staff/session", json={**body, "totp": "000000"})
        assert r.status_code == 401 and r.json()["code"] == "totp_incorrect"
        later = now + dt.timedelta(seconds=60)
        node.node.clock = lambda: later
        r = await person.post("/api/staff/session",
                              json={**body, "totp": totp.code_at(secret, later)})
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "supervisor"
        # The same code again is refused: one use per code.
        r = await person.post("/api/staff/session",
                              json={**body, "totp": totp.code_at(secret, later)})
        assert r.json()["code"] == "totp_incorrect"
        r = await person.post("/api/staff/session", json={**body, "totp": recovery[0]})
        assert r.status_code == 201
        r = await person.post("/api/staff/session", json={**body, "totp": recovery[0]})
        assert r.status_code == 401
    finally:
        await person.aclose()
        await admin.close()


async def test_supervisor_setup_needs_a_code_and_a_strong_password(node) -> None:
    admin = await make_staff(node, "admin")
    made = await admin.http.post("/api/admin/staff", json={
        "username": "sup2", "display_name": "王", "role": "supervisor"})
    token = made.json()["setup_url"].split("#t=", 1)[1]
    r = await admin.http.post("/api/staff/setup/complete",
                              json={"token": token, "password": NEW_PASSWORD})
    assert r.json()["code"] == "totp_required"
    r = await admin.http.post("/api/staff/setup/complete",
                              json={"token": token, "password": "password123"})
    assert r.json()["code"] == "weak_password"
    dup = await admin.http.post("/api/admin/staff", json={
        "username": "sup2", "display_name": "王", "role": "supervisor"})
    assert dup.status_code == 409 and dup.json()["code"] == "username_taken"
    await admin.close()


async def test_disable_reset_role_capacity_and_audit(node) -> None:
    admin = await make_staff(node, "admin")
    lin = await make_staff(node, "counselor")
    staff = (await admin.http.get("/api/admin/staff")).json()["staff"]
    row = next(s for s in staff if s["username"] == lin.username)
    r = await admin.http.patch(f"/api/admin/staff/{row['id']}",
                               json={"role": "supervisor", "capacity": 4})
    assert r.status_code == 200 and r.json()["staff"]["capacity"] == 4
    r = await admin.http.post(f"/api/admin/staff/{row['id']}/disable")
    assert r.json()["staff"]["disabled"] is True
    assert (await lin.http.get("/api/staff/me")).status_code == 401
    assert (await lin.sign_in()).status_code == 401
    await admin.http.post(f"/api/admin/staff/{row['id']}/enable")
    assert (await lin.sign_in()).status_code == 201
    r = await admin.http.post(f"/api/admin/staff/{row['id']}/reset")
    assert r.status_code == 200 and "#t=" in r.json()["setup_url"]
    assert (await lin.sign_in()).status_code == 401  # the old password is gone
    me = (await admin.http.get("/api/staff/me")).json()
    r = await admin.http.patch(f"/api/admin/staff/{me['id']}", json={"role": "counselor"})
    assert r.status_code == 409 and r.json()["code"] == "last_admin"
    audit = (await admin.http.get("/api/admin/audit", params={"actor": me["id"]})).json()
    actions = [a["action"] for a in audit["audit"]]
    assert actions[:4] == ["staff_reset", "staff_enabled", "staff_disabled", "staff_updated"]
    only = (await admin.http.get("/api/admin/audit", params={"action": "staff_reset"})).json()
    assert [a["action"] for a in only["audit"]] == ["staff_reset"]
    bad = await admin.http.get("/api/admin/audit", params={"from": "yesterday"})
    assert bad.status_code == 400
    for c in (admin, lin):
        await c.close()


async def test_every_staff_route_refuses_workers_and_other_roles(node) -> None:
    worker = Worker(node.base)
    assert (await worker.sign_in()).status_code == 201
    counselor = await make_staff(node, "counselor")
    for method, path in STAFF_ROUTES:
        r = await worker.http.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code)
        bearer = {"Authorization": f"Bearer {worker.http.cookies.get('yz_w')}"}
        r = await worker.http.request(method, path, json={}, headers=bearer)
        assert r.status_code == 401, (method, path, "bearer", r.status_code)
        r = await counselor.http.request(method, path, json={})
        assert r.status_code == 403, (method, path, r.status_code)
    supervisor = await make_staff(node, "supervisor")
    for method, path in STAFF_ROUTES:
        if path in SUPERVISOR_ROUTES or path.startswith("/api/directory"):
            continue
        r = await supervisor.http.request(method, path, json={})
        assert r.status_code == 403, (method, path, r.status_code)
    # The set-up routes need a live link and nothing else.
    r = await worker.http.post("/api/staff/setup/info", json={"token": "x" * 43})
    assert r.status_code == 404 and r.json()["code"] == "link_invalid"
    for c in (worker, counselor, supervisor):
        await c.close()
    assert PASSWORD


async def test_kek_rotation_rewraps_totp_secrets(node) -> None:
    from chat_server.ops import keys as keyops

    admin = await make_staff(node, "admin")
    secret, _ = await set_up(node, admin, "rotsup", "supervisor")
    ring = node.node.sessions.ring.with_new_kek()
    async with node.node.services.pool.acquire() as conn:
        old = ring.kek_versions[0]
        assert await keyops.live_keys_under(conn, old) >= 1
        await keyops.rewrap_all(conn, ring)
        assert await keyops.live_keys_under(conn, old) == 0
        row = await conn.fetchrow("SELECT totp_kek_version, totp_secret FROM staff"
                                  " WHERE username = 'rotsup'")
    assert row["totp_kek_version"] == ring.active_kek_version
    assert totp.open_secret(ring, totp.SealedSecret(row["totp_kek_version"],
                                                    row["totp_secret"])) == secret
    await admin.close()
