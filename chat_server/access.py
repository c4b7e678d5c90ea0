"""Who may call what: every HTTP route's audience, declared and enforced in one place.

`enforce` wraps every route of the app at start-up and refuses to start if a route has
no declared audience, so a new route cannot be reachable by accident. A worker session
never passes as staff and a staff session never passes as a worker: each audience reads
its own cookie (or a Bearer token) and checks the kind of session it resolves to. Which
staff role may do what is narrowed further by each route (`require_role`); WebSocket
frames declare their roles in chat_server/wire/commands.py (`FRAMES`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from chat_server.accounts.sessions import STAFF_COOKIE, WORKER_COOKIE, Principal, SessionStore
from chat_server.problems import Problem
from chat_server.wire.protocol import Role

SessionsRef = Callable[[], SessionStore]

# Where the guard leaves the principal it resolved, for the route to use.
PRINCIPAL_KEY = "yizhan.principal"


class Audience(enum.StrEnum):
    PUBLIC = "public"  # no session needed (sign-in, worker sign-out, status, probes)
    WORKER = "worker"  # a worker session: yz_w cookie or Bearer
    STAFF = "staff"  # any staff session: yz_s cookie or Bearer; routes narrow the role


ROUTES: dict[str, Audience] = {
    "/healthz": Audience.PUBLIC,
    # Unknown /api/ paths and methods: 404 or 405 (app.no_such_api), nothing else.
    "/api/{rest:path}": Audience.PUBLIC,
    "/readyz": Audience.PUBLIC,
    "/metrics": Audience.PUBLIC,
    "/api/status": Audience.PUBLIC,
    "/api/worker/session": Audience.PUBLIC,
    "/api/worker/signout": Audience.PUBLIC,
    "/api/worker/me": Audience.WORKER,
    "/api/worker/pin": Audience.WORKER,
    "/api/worker/history": Audience.WORKER,
    "/api/worker/conversations/{conversation_id}/rating": Audience.WORKER,
    "/api/staff/session": Audience.PUBLIC,
    # A staff route like any other: a worker token or none gets 401 (a stale staff
    # cookie is refused by every route anyway).
    "/api/staff/signout": Audience.STAFF,
    "/api/staff/me": Audience.STAFF,
    "/api/staff/conversations/{conversation_id}/messages": Audience.STAFF,
    "/api/staff/conversations/{conversation_id}/note": Audience.STAFF,
    "/api/supervisor/board": Audience.STAFF,
    "/api/supervisor/ratings": Audience.STAFF,
    "/api/supervisor/escalations": Audience.STAFF,
    "/api/supervisor/audit": Audience.STAFF,
    "/api/supervisor/followups": Audience.STAFF,
    "/api/supervisor/followups/{followup_id}/done": Audience.STAFF,
    "/api/referrals/resources": Audience.STAFF,
    "/api/referrals/{referral_id}/status": Audience.STAFF,
    "/api/escalations/{escalation_id}/referrals": Audience.STAFF,
    "/api/roster/shifts": Audience.STAFF,
    "/api/roster/patterns": Audience.STAFF,
    "/api/roster/patterns/{id}": Audience.STAFF,
    "/api/roster/changes": Audience.STAFF,
    "/api/roster/changes/{id}": Audience.STAFF,
    "/api/roster/export": Audience.STAFF,
    "/api/roster/import": Audience.STAFF,
    "/api/roster/coverage": Audience.STAFF,
    "/api/roster/today": Audience.STAFF,
    "/api/roster/approvals": Audience.STAFF,
    "/api/roster/records": Audience.STAFF,
    # Running the service from the browser (issue 20); each route narrows the role.
    "/api/roster/people": Audience.STAFF,
    "/api/admin/staff": Audience.STAFF,
    "/api/admin/staff/{staff_id}": Audience.STAFF,
    "/api/admin/staff/{staff_id}/disable": Audience.STAFF,
    "/api/admin/staff/{staff_id}/enable": Audience.STAFF,
    "/api/admin/staff/{staff_id}/reset": Audience.STAFF,
    "/api/admin/audit": Audience.STAFF,
    "/api/staff/setup/info": Audience.PUBLIC,  # the one-time link token is the credential
    "/api/staff/setup/complete": Audience.PUBLIC,
    "/api/directory": Audience.STAFF,
    "/api/directory/{resource_id}": Audience.STAFF,
    "/api/directory/{resource_id}/verified": Audience.STAFF,
    "/api/reports": Audience.STAFF,
    "/api/reports.csv": Audience.STAFF,
    "/api/reports.xlsx": Audience.STAFF,
    "/api/retention": Audience.STAFF,
    "/api/retention/run": Audience.STAFF,
    "/api/worker/history/delete": Audience.WORKER,
    # Self-service (issue 23). Public: the questionnaires, the library, the stations and
    # the open days themselves (nothing about anyone). Rows a worker owns are read only
    # through possession.may_read.
    "/api/assessments/scales": Audience.PUBLIC,
    "/api/library": Audience.PUBLIC,
    "/api/stations": Audience.PUBLIC,
    "/api/open-days": Audience.PUBLIC,
    "/api/worker/assessments": Audience.WORKER,
    "/api/worker/assessments/{assessment_id}": Audience.WORKER,
    "/api/worker/recommendations": Audience.WORKER,
    "/api/worker/slots": Audience.WORKER,
    "/api/worker/bookings": Audience.WORKER,
    "/api/worker/bookings/{booking_id}": Audience.WORKER,
    "/api/worker/open-days/{event_id}/signup": Audience.WORKER,
    "/api/worker/open-day-signups": Audience.WORKER,
    "/api/worker/open-day-signups/{signup_id}": Audience.WORKER,
    "/api/worker/open-day-signups/{signup_id}/rating": Audience.WORKER,
    "/api/staff/conversations/{conversation_id}/assessments": Audience.STAFF,
    "/api/staff/conversations/{conversation_id}/recommendations": Audience.STAFF,
    "/api/staff/slots": Audience.STAFF,
    "/api/staff/slots/{slot_id}": Audience.STAFF,
    "/api/staff/bookings": Audience.STAFF,
    "/api/staff/bookings/{booking_id}/attendance": Audience.STAFF,
    "/api/admin/library": Audience.STAFF,
    "/api/admin/library/{item_id}": Audience.STAFF,
    "/api/admin/stations": Audience.STAFF,
    "/api/admin/stations/{station_id}": Audience.STAFF,
    "/api/admin/open-days": Audience.STAFF,
    "/api/supervisor/services-report": Audience.STAFF,
}

# The WebSocket endpoints and the roles each admits (chat_server/chat/endpoint.py checks them).
SOCKETS: dict[str, frozenset[Role]] = {
    "/ws/worker": frozenset({Role.WORKER}),
    "/ws/staff": frozenset({Role.COUNSELOR, Role.SUPERVISOR, Role.ADMIN}),
}


def bearer_or_cookie(conn: HTTPConnection, cookie: str) -> str | None:
    token = conn.cookies.get(cookie)
    auth = conn.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token


def fits(p: Principal | None, cookie: str) -> Principal | None:
    """The principal if its kind is the one `cookie` is for: a worker token is no staff's."""
    if p is None:
        return None
    return p if p.is_staff == (cookie == STAFF_COOKIE) else None


async def resolve(conn: HTTPConnection, cookie: str, sessions: SessionStore
                  ) -> Principal | None:
    """The caller's session of the kind `cookie` is for: the guard's, or looked up."""
    cached = conn.scope.get(PRINCIPAL_KEY)
    if isinstance(cached, Principal) and fits(cached, cookie):
        return cached
    return fits(await sessions.lookup(bearer_or_cookie(conn, cookie)), cookie)


class Guard:
    """Refuses a request without a session of the route's audience (401 problem+json)."""

    def __init__(self, app: ASGIApp, audience: Audience, sessions: SessionsRef) -> None:
        self.app = app
        self.audience = audience
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.audience is not Audience.PUBLIC:
            cookie = WORKER_COOKIE if self.audience is Audience.WORKER else STAFF_COOKIE
            p = await resolve(HTTPConnection(scope), cookie, self.sessions())
            if p is None:
                await Problem(401, "unauthenticated", "sign in first").response()(
                    scope, receive, send)
                return
            scope[PRINCIPAL_KEY] = p
        await self.app(scope, receive, send)


def enforce(routes: list[BaseRoute], sessions: SessionsRef) -> None:
    """Wrap every route in its audience's guard; a route without one stops start-up.
    `sessions`: the running node's session store (wiring.py; built after the routes)."""
    for route in routes:
        if isinstance(route, Route):
            if route.path not in ROUTES:
                raise LookupError(f"route {route.path} has no declared audience (access.py)")
            if not isinstance(route.app, Guard):
                route.app = Guard(route.app, ROUTES[route.path], sessions)
        elif isinstance(route, WebSocketRoute):
            if route.path not in SOCKETS:
                raise LookupError(f"socket {route.path} has no declared roles (access.py)")
        elif not isinstance(route, Mount):
            raise LookupError(f"unexpected route {route!r}")
