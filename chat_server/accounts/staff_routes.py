"""The admin page's HTTP routes: staff accounts, set-up links, the audit-log viewer.

Every route here names its role and checks it first; the set-up routes are the only
unauthenticated ones and are keyed by a one-time link token (sent in the body, never in a
URL, so it does not end up in access logs).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server import access
from chat_server.accounts import totp
from chat_server.accounts.sessions import STAFF_COOKIE, Principal
from chat_server.accounts.staff import ROLES, USERNAME, AccountError, SetupLink, StaffAccounts
from chat_server.chat.hub import user_channel
from chat_server.chat.node import Node, NodeRef
from chat_server.problems import Problem, check_origin, field_int, field_str, json_body
from chat_server.problems import require_role as _require_role
from chat_server.wire.events import Revoked
from crypto.errors import WeakPassword

AUDIT_PAGE = 100
AUDIT_ACTIONS_MAX = 64


async def staff_principal(node: Node, request: Request, *roles: str) -> Principal:
    """The caller's staff session with one of `roles`: 401 without one (a worker's token
    included: it never resolves to a staff role), 403 for another role."""
    return _require_role(await access.resolve(request, STAFF_COOKIE, node.sessions), *roles)


def accounts_of(node: Node) -> StaffAccounts:
    return StaffAccounts(node.services.pool, node.sessions.ring, node.time)


def _problem(exc: AccountError) -> Problem:
    return Problem(exc.status, exc.code, exc.detail)


def _staff_id(request: Request) -> str:
    try:
        return str(uuid.UUID(request.path_params["staff_id"]))
    except ValueError:
        raise Problem(404, "not_found", "no such staff member") from None


def _link_json(request: Request, link: SetupLink) -> dict[str, Any]:
    # The token travels in the fragment: browsers never send it to a server or a referrer.
    origin = request.headers.get("origin") or str(request.base_url).rstrip("/")
    return {"setup_url": f"{origin.rstrip('/')}/setup.html#t={link.token}",
            "expires_at": link.expires_at.isoformat()}


async def _disconnect(node: Node, staff_id: str) -> None:
    # Every node closes this account's sockets (endpoint.py handles `revoked` without `h`).
    await node.hub.publish(user_channel(staff_id), Revoked())


def _changes(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if creating or "display_name" in data:
        name = field_str(data, "display_name", max_len=32)
        out["display_name"] = (name or "").strip()
    if creating or "role" in data:
        if data.get("role") not in ROLES:
            raise Problem(400, "bad_field", "role must be counselor, supervisor or admin",
                          field="role")
        out["role"] = data["role"]
    if "capacity" in data or creating:
        out["capacity"] = field_int({"capacity": data.get("capacity", 2)}, "capacity",
                                    low=1, high=10)
    return out


# ---- admin: accounts ---------------------------------------------------------------


async def staff_list(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    if request.method == "POST":
        return await staff_create(node_of, request)
    await staff_principal(node, request, "admin")
    return JSONResponse({"staff": await accounts_of(node).list()})


async def staff_create(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    me = await staff_principal(node, request, "admin")
    data = await json_body(request)
    username = (field_str(data, "username", max_len=64) or "").strip().lower()
    if not USERNAME.match(username):
        raise Problem(400, "bad_field", "username: 3–64 of a-z 0-9 . _ -, starting with a"
                      " letter or digit", field="username")
    fields = _changes(data, creating=True)
    try:
        account, link = await accounts_of(node).create(
            me.id, username, fields["display_name"], fields["role"], fields["capacity"])
    except AccountError as exc:
        raise _problem(exc) from None
    return JSONResponse({"staff": account, **_link_json(request, link)}, status_code=201)


async def staff_update(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    me = await staff_principal(node, request, "admin")
    data = await json_body(request)
    changes = _changes(data, creating=False)
    if not changes:
        raise Problem(400, "bad_field", "nothing to change: role, capacity or display_name")
    staff_id = _staff_id(request)
    try:
        account = await accounts_of(node).update(me.id, staff_id, changes)
    except AccountError as exc:
        raise _problem(exc) from None
    if "role" in changes:
        await _disconnect(node, staff_id)  # open pages reconnect with the new role
    return JSONResponse({"staff": account})


async def staff_disable(node_of: NodeRef, request: Request) -> Response:
    return await _set_disabled(node_of(), request, True)


async def staff_enable(node_of: NodeRef, request: Request) -> Response:
    return await _set_disabled(node_of(), request, False)


async def _set_disabled(node: Node, request: Request, disabled: bool) -> Response:
    check_origin(request, node.settings.allowed_origins)
    me = await staff_principal(node, request, "admin")
    staff_id = _staff_id(request)
    if disabled and staff_id == me.id:
        raise Problem(409, "conflict", "you cannot disable your own account")
    accounts = accounts_of(node)
    try:
        await accounts.set_disabled(me.id, staff_id, disabled)
    except AccountError as exc:
        raise _problem(exc) from None
    if disabled:
        await _disconnect(node, staff_id)
    return JSONResponse({"staff": await accounts.get(staff_id)})


async def staff_reset(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    me = await staff_principal(node, request, "admin")
    staff_id = _staff_id(request)
    if staff_id == me.id:
        raise Problem(409, "conflict", "ask another admin to reset your own account")
    accounts = accounts_of(node)
    try:
        link, _revoked = await accounts.reset(me.id, staff_id)
    except AccountError as exc:
        raise _problem(exc) from None
    await _disconnect(node, staff_id)
    return JSONResponse({"staff": await accounts.get(staff_id), **_link_json(request, link)})


# ---- the set-up link ---------------------------------------------------------------


def _token(data: dict[str, Any]) -> str:
    return field_str(data, "token", max_len=128) or ""


async def setup_info(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    data = await json_body(request)
    try:
        enrol = await accounts_of(node).enrolment(_token(data))
    except AccountError as exc:
        raise _problem(exc) from None
    uri = totp.provisioning_uri(enrol.secret, enrol.username)
    svg = totp.qr_svg(uri)
    return JSONResponse({
        "username": enrol.username, "display_name": enrol.display_name, "role": enrol.role,
        "totp_required": enrol.totp_required,
        "totp": {"qr": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
                 "secret": totp.secret_text(enrol.secret), "uri": uri,
                 "digits": totp.DIGITS, "period": totp.STEP_S},
    })


async def setup_complete(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    data = await json_body(request)
    password = field_str(data, "password", max_len=1024) or ""
    code = field_str(data, "totp", max_len=16, required=False)
    try:
        codes = await accounts_of(node).complete(_token(data), password, code)
    except AccountError as exc:
        raise _problem(exc) from None
    except WeakPassword as exc:
        raise Problem(400, "weak_password", exc.message, reason=exc.code) from None
    return JSONResponse({"totp": bool(codes), "recovery_codes": codes})


# ---- admin: the audit log ----------------------------------------------------------


def _when(text: str | None, name: str, tz: dt.tzinfo) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Problem(400, "bad_field", f"{name} must be an ISO date or time", field=name) \
            from None
    # A bare date or time is the service's local time, as the page shows it.
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


async def audit_list(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    await staff_principal(node, request, "admin")
    q = request.query_params
    where: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))

    for name, column in (("actor", "a.actor_staff_id"), ("conversation_id", "a.conversation_id")):
        if q.get(name):
            try:
                add(column + " = {}", uuid.UUID(q[name]))
            except ValueError:
                raise Problem(400, "bad_field", f"{name} must be a UUID", field=name) from None
    if q.get("action"):
        if len(q["action"]) > AUDIT_ACTIONS_MAX:
            raise Problem(400, "bad_field", "action is too long", field="action")
        add("a.action = {}", q["action"])
    tz = node.settings.tz
    start, end = _when(q.get("from"), "from", tz), _when(q.get("to"), "to", tz)
    if start is not None:
        add("a.at >= {}", start)
    if end is not None:
        if q.get("to") and len(q["to"]) == 10:  # a bare date: through the end of that day
            end += dt.timedelta(days=1)
        add("a.at < {}", end)
    if q.get("before"):
        try:
            add("a.id < {}", int(q["before"]))
        except ValueError:
            raise Problem(400, "bad_field", "before must be an integer", field="before") \
                from None
    sql = ("SELECT a.id, a.at, a.actor_staff_id, s.display_name, s.username, a.action,"
           " a.conversation_id, a.escalation_id, a.reason, a.detail FROM audit_log a"
           " LEFT JOIN staff s ON s.id = a.actor_staff_id"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY a.id DESC LIMIT {AUDIT_PAGE + 1}")
    rows = await node.services.pool.fetch(sql, *args)
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    actions = await node.services.pool.fetch(
        "SELECT DISTINCT action FROM audit_log ORDER BY action")
    return JSONResponse({
        "audit": [{
            "id": r["id"], "at": r["at"].isoformat(),
            "actor": ({"id": str(r["actor_staff_id"]), "display_name": r["display_name"],
                       "username": r["username"]} if r["actor_staff_id"] else None),
            "action": r["action"],
            "conversation_id": str(r["conversation_id"]) if r["conversation_id"] else None,
            "escalation_id": str(r["escalation_id"]) if r["escalation_id"] else None,
            "reason": r["reason"], "detail": json.loads(r["detail"]),
        } for r in rows],
        "next_before": rows[-1]["id"] if more else None,
        "actions": [r["action"] for r in actions],
    })


async def roster_people(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    """Who can be rostered (the roster editor's rows): active counselors and supervisors."""
    await staff_principal(node, request, "supervisor", "admin")
    rows = await node.services.pool.fetch(
        "SELECT id, username, display_name, role FROM staff WHERE disabled_at IS NULL"
        " AND role IN ('counselor', 'supervisor') ORDER BY role, display_name, username")
    return JSONResponse({"people": [{"id": str(r["id"]), "username": r["username"],
                                     "display_name": r["display_name"], "role": r["role"]}
                                    for r in rows]})


def routes(node: NodeRef) -> list[BaseRoute]:
    return [
        Route("/api/roster/people", partial(roster_people, node)),
        Route("/api/admin/staff", partial(staff_list, node), methods=["GET", "POST"]),
        Route("/api/admin/staff/{staff_id}", partial(staff_update, node), methods=["PATCH"]),
        Route("/api/admin/staff/{staff_id}/disable", partial(staff_disable, node),
              methods=["POST"]),
        Route("/api/admin/staff/{staff_id}/enable", partial(staff_enable, node), methods=["POST"]),
        Route("/api/admin/staff/{staff_id}/reset", partial(staff_reset, node), methods=["POST"]),
        Route("/api/admin/audit", partial(audit_list, node)),
        Route("/api/staff/setup/info", partial(setup_info, node), methods=["POST"]),
        Route("/api/staff/setup/complete", partial(setup_complete, node), methods=["POST"]),
    ]
