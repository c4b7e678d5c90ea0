"""Roles in one place: every route and every frame type has a declared audience, enforced."""

from __future__ import annotations

import collections

import httpx
from starlette.routing import Mount, Route, WebSocketRoute

from chat_server import access
from chat_server.access import Audience, Guard
from chat_server.wire.commands import FRAMES
from chat_server.wire.protocol import ErrorCode, Limits, ProtocolError, Role, parse
from tests.clients import Worker, make_staff
from tests.conftest import ORIGIN


def app_routes(settings) -> list:
    from chat_server.wiring import build_app

    return list(build_app(settings).routes)


def test_every_route_declares_its_audience(settings) -> None:
    routes = app_routes(settings)
    paths = set()
    for route in routes:
        if isinstance(route, Route):
            assert isinstance(route.app, Guard), route.path
            assert route.app.audience is access.ROUTES[route.path]
            paths.add(route.path)
        elif isinstance(route, WebSocketRoute):
            assert route.path in access.SOCKETS
            assert route.app.roles == access.SOCKETS[route.path]  # type: ignore[attr-defined]
            paths.add(route.path)
        else:
            assert isinstance(route, Mount) and route.path == ""  # the static pages
    # And nothing declared that does not exist (a renamed route would leave a stale entry).
    assert paths == set(access.ROUTES) | set(access.SOCKETS)


def test_a_route_without_an_audience_stops_start_up() -> None:
    async def endpoint(request):  # pragma: no cover - never called
        raise AssertionError

    def no_sessions():  # pragma: no cover - never called
        raise AssertionError

    try:
        access.enforce([Route("/api/new/thing", endpoint)], sessions=no_sessions)
    except LookupError as exc:
        assert "/api/new/thing" in str(exc)
    else:
        raise AssertionError("an undeclared route was accepted")


# Who may send each frame type, as reviewed. A new frame type fails this test until its
# roles are written here too, so no frame reaches a handler with roles nobody looked at.
FRAME_ROLES = {
    "ack": "supervisor",
    "capacity": "counselor",
    "duty": "counselor",
    "end": "counselor supervisor worker",
    "flag": "counselor",
    "join": "supervisor",
    "leave_queue": "worker",
    "ping": "admin counselor supervisor worker",
    "read": "counselor worker",
    "request_chat": "worker",
    "resolve": "supervisor",
    "screen": "worker",
    "send": "counselor supervisor worker",
    "set_level": "supervisor",
    "sync": "admin counselor supervisor worker",
    "typing": "counselor worker",
    "watch": "supervisor",
    "whisper": "supervisor",
}


def test_every_frame_type_declares_its_roles_and_others_are_refused() -> None:
    declared = {k: " ".join(sorted(str(r) for r in v.roles)) for k, v in FRAMES.items()}
    assert declared == FRAME_ROLES
    limits = Limits(max_text_chars=2000)
    for name, spec in FRAMES.items():
        assert spec.roles and spec.roles <= set(Role), name
        for role in set(Role) - spec.roles:
            try:
                parse({"type": name}, role, limits, FRAMES)
            except ProtocolError as exc:
                assert exc.code is ErrorCode.UNKNOWN_TYPE, (name, role)
            else:
                raise AssertionError(f"{role} may send {name}")


async def test_every_route_refuses_the_wrong_kind_of_session(node) -> None:
    worker = Worker(node.base)
    await worker.sign_in()
    admin = await make_staff(node, role="admin")
    tokens = {"worker": worker.http.cookies.get("yz_w"), "staff": admin.http.cookies.get("yz_s")}
    refused = {Audience.WORKER: ["staff", None], Audience.STAFF: ["worker", None]}
    async with httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN}) as h:
        for route in node.app.routes:
            if not isinstance(route, Route) or route.app.audience is Audience.PUBLIC:
                continue
            # Every path parameter: a conversation's a zero UUID, any other "1".
            path = route.path.format_map(collections.defaultdict(
                lambda: "1", conversation_id="00000000-0000-0000-0000-000000000000"))
            for method in sorted(route.methods or {"GET"}):
                if method == "HEAD":
                    continue
                for kind in refused[route.app.audience]:
                    for header in ("Authorization", "Cookie"):
                        headers = {}
                        if kind and header == "Authorization":
                            headers[header] = f"Bearer {tokens[kind]}"
                        elif kind:
                            cookie = "yz_s" if route.app.audience is Audience.STAFF else "yz_w"
                            headers[header] = f"{cookie}={tokens[kind]}"
                        r = await h.request(method, path, headers=headers, json={})
                        assert r.status_code == 401, (method, path, kind, header)
                        assert r.json()["code"] == "unauthenticated"
    await worker.close()
    await admin.close()
