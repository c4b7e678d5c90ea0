"""Open days: monthly themed events with a place limit, sign-up, waiting list, ratings.

Fairness at the opening minute, across nodes: every sign-up and cancellation of an event
takes that event's row lock (SELECT … FOR UPDATE) and, under it, counts the confirmed
places and takes the next number. Sign-ups are therefore served one at a time in arrival
order at PostgreSQL: never more confirmed than places, and the waiting list is the order
of the numbers. A cancelled confirmed place goes to the lowest waiting number in the same
transaction.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from functools import partial
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.possession import may_read, own_device
from chat_server.accounts.sessions import Principal
from chat_server.clock import Clock
from chat_server.problems import Problem, check_origin, field_int, field_str, json_body
from chat_server.selfservice.booking import parse_time
from chat_server.selfservice.service import (
    SelfServiceRef,
    iso,
    limit_writes,
    parse_id,
    staff_of,
    worker_of,
)


def event_view(r: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
    return {"id": str(r["id"]), "theme": r["theme"], "teacher": r["teacher"],
            "place": r["place"], "starts_at": iso(r["starts_at"]), "ends_at": iso(r["ends_at"]),
            "capacity": r["capacity"], "signup_opens_at": iso(r["signup_opens_at"]),
            "confirmed": r["confirmed"], "waiting": r["waiting"],
            "signup_open": r["signup_opens_at"] <= now < r["starts_at"]}


_EVENT = ("SELECT e.*, (SELECT count(*) FROM open_day_signups s WHERE s.event_id = e.id"
          " AND s.status = 'confirmed') AS confirmed, (SELECT count(*) FROM open_day_signups s"
          " WHERE s.event_id = e.id AND s.status = 'waiting') AS waiting FROM open_days e")


class OpenDayStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock  # the node's clock

    async def create(self, f: dict[str, Any]) -> dict[str, Any]:
        eid = await self.pool.fetchval(
            "INSERT INTO open_days (theme, teacher, place, starts_at, ends_at, capacity,"
            " signup_opens_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            f["theme"], f["teacher"], f["place"], f["starts_at"], f["ends_at"], f["capacity"],
            f["signup_opens_at"], self.clock())
        row = await self.pool.fetchrow(_EVENT + " WHERE e.id = $1", eid)
        return event_view(row, self.clock())

    async def list(self, since: dt.datetime) -> builtins.list[dict[str, Any]]:
        now = self.clock()
        rows = await self.pool.fetch(_EVENT + " WHERE e.ends_at > $1 ORDER BY e.starts_at"
                                     " LIMIT 100", since)
        return [event_view(r, now) for r in rows]

    async def sign_up(self, p: Principal, event_id: uuid.UUID) -> uuid.UUID:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            ev = await conn.fetchrow(
                "SELECT capacity, signup_opens_at, starts_at, next_number FROM open_days"
                " WHERE id = $1 FOR UPDATE", event_id)
            if ev is None:
                raise Problem(404, "not_found", "no such open day")
            if now < ev["signup_opens_at"]:
                raise Problem(409, "signup_not_open", "sign-up has not opened yet",
                              opens_at=iso(ev["signup_opens_at"]))
            if now >= ev["starts_at"]:
                raise Problem(409, "signup_closed", "this open day has started")
            if await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM open_day_signups WHERE event_id = $1"
                    " AND worker_id = $2 AND status <> 'cancelled')", event_id, uuid.UUID(p.id)):
                raise Problem(409, "already_signed_up", "you are already on this open day")
            confirmed = await conn.fetchval(
                "SELECT count(*) FROM open_day_signups WHERE event_id = $1"
                " AND status = 'confirmed'", event_id)
            status = "confirmed" if confirmed < ev["capacity"] else "waiting"
            await conn.execute("UPDATE open_days SET next_number = next_number + 1"
                               " WHERE id = $1", event_id)
            signup_id: uuid.UUID = await conn.fetchval(
                "INSERT INTO open_day_signups (event_id, worker_id, owner_session, owner_device,"
                " number, status, created_at, updated_at)"
                " VALUES ($1, $2, $3, $7, $4, $5, $6, $6) RETURNING id",
                event_id, uuid.UUID(p.id), p.token_hash, ev["next_number"], status, now,
                own_device(p))
            return signup_id

    async def cancel(self, p: Principal, signup_id: uuid.UUID) -> bool:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT event_id, owner_session, owner_device FROM open_day_signups WHERE id = $1"
                " AND worker_id = $2", signup_id, uuid.UUID(p.id))
            if row is None or not may_read(p, row["owner_session"], row["owner_device"]):
                return False
            ev = await conn.fetchrow("SELECT starts_at FROM open_days WHERE id = $1 FOR UPDATE",
                                     row["event_id"])
            if ev["starts_at"] <= now:
                raise Problem(409, "conflict", "this open day has started")
            # Under the event's lock no other change to its sign-ups is in flight.
            was = await conn.fetchval("SELECT status FROM open_day_signups WHERE id = $1",
                                      signup_id)
            if was == "cancelled":
                return True
            await conn.execute("UPDATE open_day_signups SET status = 'cancelled',"
                               " updated_at = $2 WHERE id = $1", signup_id, now)
            if was == "confirmed":
                await conn.execute(
                    "UPDATE open_day_signups SET status = 'confirmed', updated_at = $2"
                    " WHERE id = (SELECT id FROM open_day_signups WHERE event_id = $1"
                    " AND status = 'waiting' ORDER BY number LIMIT 1)", row["event_id"], now)
        return True

    async def readable(self, p: Principal) -> builtins.list[dict[str, Any]]:
        now = self.clock()
        rows = await self.pool.fetch(
            "SELECT s.id AS signup_id, s.owner_session, s.owner_device, s.status, s.number,"
            " s.rating,"
            " (SELECT count(*) FROM open_day_signups o WHERE o.event_id = s.event_id"
            "  AND o.status = 'waiting' AND o.number <= s.number) AS position,"
            " e.*, (SELECT count(*) FROM open_day_signups o WHERE o.event_id = e.id"
            "  AND o.status = 'confirmed') AS confirmed, (SELECT count(*) FROM open_day_signups"
            "  o WHERE o.event_id = e.id AND o.status = 'waiting') AS waiting"
            " FROM open_day_signups s JOIN open_days e ON e.id = s.event_id"
            " WHERE s.worker_id = $1 AND s.status <> 'cancelled' ORDER BY e.starts_at DESC"
            " LIMIT 50", uuid.UUID(p.id))
        return [{"id": str(r["signup_id"]), "status": r["status"],
                 "position": r["position"] if r["status"] == "waiting" else None,
                 "rating": r["rating"],
                 "may_rate": r["status"] == "confirmed" and r["rating"] is None
                 and r["ends_at"] <= now,
                 "event": event_view(r, now)}
                for r in rows if may_read(p, r["owner_session"], r["owner_device"])]

    async def rate(self, p: Principal, signup_id: uuid.UUID, score: int) -> str:
        """'ok', 'missing' or 'not_now' (not a confirmed place, not over, or rated)."""
        now = self.clock()
        row = await self.pool.fetchrow(
            "SELECT s.owner_session, s.owner_device FROM open_day_signups s"
            " WHERE s.id = $1 AND s.worker_id = $2",
            signup_id, uuid.UUID(p.id))
        if row is None or not may_read(p, row["owner_session"], row["owner_device"]):
            return "missing"
        done = await self.pool.fetchval(
            "UPDATE open_day_signups s SET rating = $2, rated_at = $3 FROM open_days e"
            " WHERE s.id = $1 AND e.id = s.event_id AND s.status = 'confirmed'"
            " AND s.rating IS NULL AND e.ends_at <= $3 RETURNING true", signup_id, score, now)
        return "ok" if done else "not_now"


# ---- HTTP -----------------------------------------------------------------------------


async def open_days_route(runtime: SelfServiceRef, request: Request) -> Response:
    """Public: upcoming open days with their places (counts, never who)."""
    rt = runtime()
    return JSONResponse({"open_days": await rt.open_days.list(rt.node.now())})


async def admin_open_days_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    await staff_of(rt, request, "admin")
    if request.method == "GET":
        since = rt.node.now() - dt.timedelta(days=400)
        return JSONResponse({"open_days": await rt.open_days.list(since)})
    check_origin(request, rt.node.settings.allowed_origins)
    data = await json_body(request)
    f: dict[str, Any] = {"theme": field_str(data, "theme", max_len=100),
         "teacher": field_str(data, "teacher", max_len=50),
         "place": field_str(data, "place", max_len=200),
         "starts_at": parse_time(data, "starts_at"), "ends_at": parse_time(data, "ends_at"),
         "signup_opens_at": parse_time(data, "signup_opens_at"),
         "capacity": field_int(data, "capacity", low=1, high=10000)}
    if not f["signup_opens_at"] < f["starts_at"] < f["ends_at"]:
        raise Problem(400, "bad_field", "sign-up opens before the start, which is before the"
                      " end", field="starts_at")
    return JSONResponse(await rt.open_days.create(f), status_code=201)


async def signup_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    check_origin(request, rt.node.settings.allowed_origins)
    await limit_writes(rt, p, "signup")
    sid = await rt.open_days.sign_up(p, parse_id(request.path_params["event_id"], "open day"))
    mine = [s for s in await rt.open_days.readable(p) if s["id"] == str(sid)]
    return JSONResponse(mine[0] if mine else {"id": str(sid)}, status_code=201)


async def signups_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    return JSONResponse({"signups": await rt.open_days.readable(p)})


async def signup_cancel_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    check_origin(request, rt.node.settings.allowed_origins)
    if not await rt.open_days.cancel(p, parse_id(request.path_params["signup_id"], "sign-up")):
        raise Problem(404, "not_found", "no such sign-up")
    return Response(status_code=204)


async def rating_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    check_origin(request, rt.node.settings.allowed_origins)
    score = field_int(await json_body(request), "score", low=1, high=5)
    outcome = await rt.open_days.rate(p, parse_id(request.path_params["signup_id"], "sign-up"),
                                      score)
    if outcome == "missing":
        raise Problem(404, "not_found", "no such sign-up")
    if outcome == "not_now":
        raise Problem(409, "conflict", "a confirmed place can be rated once, after the event")
    return JSONResponse({"id": request.path_params["signup_id"], "score": score},
                        status_code=201)


def routes(runtime: SelfServiceRef) -> list[BaseRoute]:
    return [
        Route("/api/open-days", partial(open_days_route, runtime)),
        Route("/api/admin/open-days", partial(admin_open_days_route, runtime),
              methods=["GET", "POST"]),
        Route("/api/worker/open-days/{event_id}/signup", partial(signup_route, runtime),
              methods=["POST"]),
        Route("/api/worker/open-day-signups", partial(signups_route, runtime)),
        Route("/api/worker/open-day-signups/{signup_id}", partial(signup_cancel_route, runtime),
              methods=["DELETE"]),
        Route("/api/worker/open-day-signups/{signup_id}/rating", partial(rating_route, runtime),
              methods=["POST"]),
    ]
