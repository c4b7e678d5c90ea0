"""Booking a one-to-one: stations, counselors' slots, workers' bookings, the booked chat.

A counselor publishes slots inside their rostered shifts (online, or in person at a centre
or station from the admin's directory). A worker books, changes or cancels by alias; a slot
holds one live booking (a unique partial index: the conditional insert is the lock). A
booked online session starts as a chat with that counselor: when the worker asks to chat
within the slot, the conversation is matched with them directly (chat_queue's
match_booked script), ahead of the queue. A booked slot that ended without the worker is a
no-show.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_queue.matching import Band
from chat_server.accounts.possession import may_read, own_device
from chat_server.accounts.sessions import Principal
from chat_server.chat.store import Conversation
from chat_server.clock import Clock
from chat_server.problems import Problem, check_origin, field_str, json_body
from chat_server.selfservice.service import (
    SelfService,
    iso,
    limit_writes,
    parse_id,
    runtime,
    staff_of,
    worker_of,
)
from chat_server.wire.protocol import Role

if TYPE_CHECKING:
    from chat_server.chat.connection import Connection

log = logging.getLogger("yizhan.booking")

# A booked online chat may start this long before its slot (and until the slot ends).
EARLY = dt.timedelta(minutes=10)
MAX_UPCOMING = 2  # live bookings one worker may hold at once: places are scarce
MIN_SLOT = dt.timedelta(minutes=15)
MAX_SLOT = dt.timedelta(hours=3)
HORIZON = dt.timedelta(days=60)
MODES = ("online", "in_person")
ATTENDANCE = ("attended", "no_show")


class SlotTaken(Exception):
    pass


class TooMany(Exception):
    pass


def effective_status(status: str, ends_at: dt.datetime, now: dt.datetime) -> str:
    """A booking still 'booked' after its slot ended was missed."""
    return "no_show" if status == "booked" and ends_at <= now else status


def parse_time(data: dict[str, Any], name: str) -> dt.datetime:
    raw = field_str(data, name, max_len=40) or ""
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise Problem(400, "bad_field", f"{name} must be an ISO 8601 time with an offset",
                      field=name) from None
    if value.tzinfo is None:
        raise Problem(400, "bad_field", f"{name} needs a UTC offset", field=name)
    return value


_SLOT_COLUMNS = (
    "sl.id AS slot_id, sl.counselor_id, sl.starts_at, sl.ends_at, sl.mode, sl.station_id,"
    " sl.withdrawn_at, s.display_name, st.name AS station_name, st.district, st.address,"
    " st.hours AS station_hours, st.directions")
_SLOT_FROM = (" FROM booking_slots sl JOIN staff s ON s.id = sl.counselor_id"
              " LEFT JOIN stations st ON st.id = sl.station_id")


def slot_view(r: asyncpg.Record) -> dict[str, Any]:
    station = None
    if r["station_id"] is not None:
        station = {"id": str(r["station_id"]), "name": r["station_name"],
                   "district": r["district"], "address": r["address"],
                   "hours": r["station_hours"], "directions": r["directions"]}
    return {"id": str(r["slot_id"]), "counselor": {"id": str(r["counselor_id"]),
                                                   "display_name": r["display_name"]},
            "starts_at": iso(r["starts_at"]), "ends_at": iso(r["ends_at"]), "mode": r["mode"],
            "station": station}


def station_view(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(r["id"]), "name": r["name"], "district": r["district"],
            "address": r["address"], "hours": r["hours"], "directions": r["directions"],
            "disabled": r["disabled"]}


class BookingStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock  # the node's clock

    # ---- stations -----------------------------------------------------------------

    async def stations(self, include_disabled: bool = False) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM stations WHERE $1 OR NOT disabled ORDER BY district, name",
            include_disabled)
        return [station_view(r) for r in rows]

    async def save_station(self, station_id: uuid.UUID | None,
                           f: dict[str, Any]) -> dict[str, Any] | None:
        if station_id is None:
            row = await self.pool.fetchrow(
                "INSERT INTO stations (name, district, address, hours, directions, disabled,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
                f["name"], f["district"], f["address"], f["hours"], f["directions"],
                f["disabled"], self.clock())
        else:
            row = await self.pool.fetchrow(
                "UPDATE stations SET name = $2, district = $3, address = $4, hours = $5,"
                " directions = $6, disabled = $7 WHERE id = $1 RETURNING *",
                station_id, f["name"], f["district"], f["address"], f["hours"],
                f["directions"], f["disabled"])
        return station_view(row) if row else None

    # ---- slots --------------------------------------------------------------------

    async def add_slot(self, counselor_id: str, starts: dt.datetime, ends: dt.datetime,
                       mode: str, station_id: uuid.UUID | None) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            # One counselor's slots never overlap (a lock per counselor for the check).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                               f"yizhan:slots:{counselor_id}")
            clash = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM booking_slots WHERE counselor_id = $1"
                " AND withdrawn_at IS NULL AND starts_at < $3 AND ends_at > $2)",
                uuid.UUID(counselor_id), starts, ends)
            if clash:
                raise Problem(409, "conflict", "this overlaps another of your slots")
            sid = await conn.fetchval(
                "INSERT INTO booking_slots (counselor_id, starts_at, ends_at, mode, station_id,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                uuid.UUID(counselor_id), starts, ends, mode, station_id, self.clock())
            row = await conn.fetchrow(f"SELECT {_SLOT_COLUMNS}{_SLOT_FROM} WHERE sl.id = $1",
                                      sid)
        return slot_view(row)

    async def withdraw_slot(self, slot_id: uuid.UUID, counselor_id: str) -> str:
        """'ok', 'missing' or 'booked' (a booked slot is not withdrawn under the worker)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT counselor_id FROM booking_slots WHERE id = $1 AND withdrawn_at IS NULL"
                " FOR UPDATE", slot_id)
            if row is None or str(row["counselor_id"]) != counselor_id:
                return "missing"
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM bookings WHERE slot_id = $1"
                                   " AND status = 'booked')", slot_id):
                return "booked"
            await conn.execute("UPDATE booking_slots SET withdrawn_at = $2 WHERE id = $1",
                               slot_id, self.clock())
        return "ok"

    async def open_slots(self, first: dt.datetime, last: dt.datetime) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {_SLOT_COLUMNS}{_SLOT_FROM} WHERE sl.withdrawn_at IS NULL"
            " AND s.disabled_at IS NULL AND sl.starts_at > $1 AND sl.starts_at < $2"
            " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id"
            " AND b.status IN ('booked', 'attended', 'no_show')) ORDER BY sl.starts_at LIMIT 200",
            first, last)
        return [slot_view(r) for r in rows]

    # ---- bookings -----------------------------------------------------------------

    async def _rows_of(self, conn: Any, worker_id: str) -> list[asyncpg.Record]:
        return await conn.fetch(
            "SELECT b.id, b.owner_session, b.owner_device, b.status, b.conversation_id,"
            f" b.created_at, {_SLOT_COLUMNS}{_SLOT_FROM} JOIN bookings b ON b.slot_id = sl.id"
            " WHERE b.worker_id = $1 ORDER BY sl.starts_at DESC LIMIT 100",
            uuid.UUID(worker_id))

    def _view(self, r: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
        return {"id": str(r["id"]), "status": effective_status(r["status"], r["ends_at"], now),
                "slot": slot_view(r), "created_at": iso(r["created_at"])}

    async def readable(self, p: Principal) -> list[dict[str, Any]]:
        now = self.clock()
        return [self._view(r, now) for r in await self._rows_of(self.pool, p.id)
                if may_read(p, r["owner_session"], r["owner_device"])]

    async def _book(self, conn: Any, p: Principal, slot_id: uuid.UUID,
                    now: dt.datetime) -> uuid.UUID:
        ok = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM booking_slots WHERE id = $1 AND withdrawn_at IS NULL"
            " AND starts_at > $2)", slot_id, now)
        if not ok:
            raise SlotTaken()
        try:
            async with conn.transaction():
                return await conn.fetchval(
                    "INSERT INTO bookings (slot_id, worker_id, owner_session, owner_device,"
                    " status, created_at, updated_at) VALUES ($1, $2, $3, $5, 'booked', $4, $4)"
                    " RETURNING id", slot_id, uuid.UUID(p.id), p.token_hash, now,
                    own_device(p))
        except asyncpg.UniqueViolationError:
            raise SlotTaken() from None

    async def book(self, p: Principal, slot_id: uuid.UUID,
                   replacing: uuid.UUID | None = None) -> uuid.UUID | None:
        """A new booking (raises SlotTaken / TooMany); with `replacing`, the old booking
        is cancelled in the same transaction. None if `replacing` is not this session's."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            # One worker's bookings are changed one at a time (the limit check is exact).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                               f"yizhan:bookings:{p.id}")
            if replacing is not None and not await self._cancel(conn, p, replacing, now):
                return None
            live = await conn.fetchval(
                "SELECT count(*) FROM bookings b JOIN booking_slots sl ON sl.id = b.slot_id"
                " WHERE b.worker_id = $1 AND b.status = 'booked' AND sl.ends_at > $2",
                uuid.UUID(p.id), now)
            if live >= MAX_UPCOMING:
                raise TooMany()
            return await self._book(conn, p, slot_id, now)

    async def _cancel(self, conn: Any, p: Principal, booking_id: uuid.UUID,
                      now: dt.datetime) -> bool:
        row = await conn.fetchrow(
            "SELECT b.owner_session, b.owner_device, b.status, sl.starts_at FROM bookings b"
            " JOIN booking_slots sl ON sl.id = b.slot_id"
            " WHERE b.id = $1 AND b.worker_id = $2 FOR UPDATE OF b",
            booking_id, uuid.UUID(p.id))
        if row is None or not may_read(p, row["owner_session"], row["owner_device"]):
            return False
        if row["status"] != "booked" or row["starts_at"] <= now:
            raise Problem(409, "conflict", "only a booking that has not started can change",
                          status_now=row["status"])
        await conn.execute("UPDATE bookings SET status = 'cancelled', updated_at = $2"
                           " WHERE id = $1", booking_id, now)
        return True

    async def cancel(self, p: Principal, booking_id: uuid.UUID) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._cancel(conn, p, booking_id, self.clock())

    async def due_online(self, p: Principal) -> asyncpg.Record | None:
        """This session's booked online slot that may start now, if any."""
        now = self.clock()
        rows = await self.pool.fetch(
            "SELECT b.id, b.owner_session, b.owner_device, sl.counselor_id FROM bookings b"
            " JOIN booking_slots sl ON sl.id = b.slot_id WHERE b.worker_id = $1"
            " AND b.status = 'booked' AND sl.mode = 'online' AND sl.starts_at <= $2"
            " AND sl.ends_at > $3 ORDER BY sl.starts_at",
            uuid.UUID(p.id), now + EARLY, now)
        for r in rows:
            if may_read(p, r["owner_session"], r["owner_device"]):
                return r
        return None

    async def attach(self, booking_id: uuid.UUID, conversation_id: str) -> None:
        await self.pool.execute(
            "UPDATE bookings SET conversation_id = $2, updated_at = $3 WHERE id = $1",
            booking_id, uuid.UUID(conversation_id), self.clock())

    async def mark(self, booking_id: uuid.UUID, status: str) -> None:
        await self.pool.execute(
            "UPDATE bookings SET status = $2, updated_at = $3 WHERE id = $1",
            booking_id, status, self.clock())

    async def waiting_booked(self) -> list[asyncpg.Record]:
        """Booked chats still waiting for their counselor (the sweeper retries them)."""
        now = self.clock()
        return await self.pool.fetch(
            "SELECT b.id, c.id AS conversation_id, sl.counselor_id FROM bookings b"
            " JOIN booking_slots sl ON sl.id = b.slot_id"
            " JOIN conversations c ON c.id = b.conversation_id"
            " WHERE b.status = 'booked' AND c.status = 'waiting' AND sl.ends_at > $1", now)

    async def day(self, first: dt.datetime, last: dt.datetime,
                  counselor_id: str | None) -> list[dict[str, Any]]:
        """Slots of a day with their bookings (alias only), for staff."""
        now = self.clock()
        rows = await self.pool.fetch(
            # The alias of the device that booked (what the counselor sees in the chat too);
            # the worker's old number-derived alias only for a booking made without one.
            f"SELECT {_SLOT_COLUMNS}, b.id AS booking_id, b.status, b.updated_at,"
            " COALESCE(d.alias, w.alias) AS alias"
            f"{_SLOT_FROM} LEFT JOIN bookings b ON b.slot_id = sl.id"
            " LEFT JOIN workers w ON w.id = b.worker_id"
            " LEFT JOIN worker_devices d ON d.device_hash = b.owner_device"
            " WHERE sl.starts_at >= $1 AND sl.starts_at < $2"
            " AND ($3::uuid IS NULL OR sl.counselor_id = $3)"
            " ORDER BY sl.starts_at, b.created_at",
            first, last, uuid.UUID(counselor_id) if counselor_id else None)
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            slot = out.setdefault(str(r["slot_id"]), {**slot_view(r), "withdrawn":
                                                      r["withdrawn_at"] is not None,
                                                      "bookings": []})
            if r["booking_id"] is not None:
                slot["bookings"].append({
                    "id": str(r["booking_id"]), "alias": r["alias"],
                    "status": effective_status(r["status"], r["ends_at"], now),
                    "updated_at": iso(r["updated_at"])})
        return list(out.values())

    async def settle(self) -> None:
        """A booked chat that a counselor took (the queue's matcher, if theirs was busy)
        was attended."""
        await self.pool.execute(
            "UPDATE bookings b SET status = 'attended', updated_at = $1 FROM conversations c"
            " WHERE b.status = 'booked' AND c.id = b.conversation_id"
            " AND c.status IN ('active', 'ended')", self.clock())

    async def staff_booking(self, booking_id: uuid.UUID) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            "SELECT b.status, sl.counselor_id, sl.starts_at FROM bookings b"
            " JOIN booking_slots sl ON sl.id = b.slot_id WHERE b.id = $1", booking_id)


# ---- the booked chat -------------------------------------------------------------------


async def start_booked(rt: SelfService, booking_id: uuid.UUID, conversation_id: str,
                       counselor_id: str) -> bool:
    """Hand a queued conversation to its booked counselor if they can take it now."""
    node = rt.node
    done = await node.queue.match_booked(conversation_id, counselor_id, node.now_ms())
    if done != 1:
        return False
    # The same recording as any match: PostgreSQL, then both sides are told.
    await rt.matcher.record_match(conversation_id, counselor_id)
    conv = await node.conversations.get(conversation_id)
    if conv is not None and conv.status == "active" and conv.counselor_id == counselor_id:
        await rt.booking.mark(booking_id, "attended")
        return True
    return False


async def on_chat_requested(rt: SelfService, conn: Connection, conv: Conversation) -> None:
    due = await rt.booking.due_online(conn.principal)
    if due is None:
        return
    await rt.booking.attach(due["id"], conv.id)
    if await start_booked(rt, due["id"], conv.id, str(due["counselor_id"])):
        return
    # Their counselor is busy or away: never behind the queue. The worker waits at its
    # front (as a hand-over does) while the sweeper keeps offering them to that counselor.
    node = rt.node
    oldest = await node.queue.oldest_enqueued_ms()
    front = node.now_ms() if oldest is None else min(node.now_ms(), oldest - 1)
    await node.queue.move_ahead(conv.id, Band(min(conv.band, 1)), front)


async def sweep(rt: SelfService) -> None:
    """Booked chats whose counselor was busy or away: try again."""
    await rt.booking.settle()
    for r in await rt.booking.waiting_booked():
        await start_booked(rt, r["id"], str(r["conversation_id"]), str(r["counselor_id"]))


# ---- HTTP -----------------------------------------------------------------------------


def station_fields(data: dict[str, Any]) -> dict[str, Any]:
    disabled = data.get("disabled", False)
    if not isinstance(disabled, bool):
        raise Problem(400, "bad_field", "disabled must be true or false", field="disabled")
    return {"name": field_str(data, "name", max_len=100),
            "district": field_str(data, "district", max_len=50),
            "address": field_str(data, "address", max_len=200),
            "hours": field_str(data, "hours", max_len=100, required=False) or "",
            "directions": field_str(data, "directions", max_len=500, required=False) or "",
            "disabled": disabled}


async def stations_route(request: Request) -> Response:
    """Public: the centres and stations (addresses are public places)."""
    return JSONResponse({"stations": await runtime(request).booking.stations()})


async def admin_stations_route(request: Request) -> Response:
    rt = runtime(request)
    await staff_of(request, "admin")
    if request.method == "GET":
        return JSONResponse({"stations": await rt.booking.stations(include_disabled=True)})
    check_origin(request)
    row = await rt.booking.save_station(None, station_fields(await json_body(request)))
    return JSONResponse(row, status_code=201)


async def admin_station_route(request: Request) -> Response:
    rt = runtime(request)
    await staff_of(request, "admin")
    check_origin(request)
    sid = parse_id(request.path_params["station_id"], "station")
    row = await rt.booking.save_station(sid, station_fields(await json_body(request)))
    if row is None:
        raise Problem(404, "not_found", "no such station")
    return JSONResponse(row)


async def _within_roster(request: Request, counselor_id: str, starts: dt.datetime,
                         ends: dt.datetime) -> bool:
    shifts_rt = runtime(request).shifts
    if not await shifts_rt.store.in_use():
        return True  # no roster yet (a fresh install): any time inside the horizon
    tz = shifts_rt.tz
    day = starts.astimezone(tz).date()
    shifts = await shifts_rt.store.shifts(day - dt.timedelta(days=1), day)
    return any(s.staff_id == counselor_id and s.start_at(tz) <= starts and ends <= s.end_at(tz)
               for s in shifts)


async def staff_slots_route(request: Request) -> Response:
    rt = runtime(request)
    p = await staff_of(request, "counselor")
    check_origin(request)
    data = await json_body(request)
    starts, ends = parse_time(data, "starts_at"), parse_time(data, "ends_at")
    now = rt.node.now()
    if not (now < starts < now + HORIZON) or not MIN_SLOT <= ends - starts <= MAX_SLOT:
        raise Problem(400, "bad_field", "a slot starts in the next 60 days and lasts 15 minutes"
                      " to 3 hours", field="starts_at")
    mode = data.get("mode")
    if mode not in MODES:
        raise Problem(400, "bad_field", "mode must be online or in_person", field="mode")
    station_id = None
    if mode == "in_person":
        station_id = parse_id(str(data.get("station_id")), "station")
        if not any(s["id"] == str(station_id) for s in await rt.booking.stations()):
            raise Problem(400, "bad_field", "no such station", field="station_id")
    if not await _within_roster(request, p.id, starts, ends):
        raise Problem(409, "not_rostered", "a slot must lie inside one of your rostered shifts")
    slot = await rt.booking.add_slot(p.id, starts, ends, str(mode), station_id)
    return JSONResponse(slot, status_code=201)


async def staff_slot_route(request: Request) -> Response:
    rt = runtime(request)
    p = await staff_of(request, "counselor")
    check_origin(request)
    outcome = await rt.booking.withdraw_slot(parse_id(request.path_params["slot_id"], "slot"),
                                             p.id)
    if outcome == "missing":
        raise Problem(404, "not_found", "no such slot")
    if outcome == "booked":
        raise Problem(409, "conflict", "a worker booked this slot; it stays")
    return Response(status_code=204)


def _day_bounds(request: Request, rt: SelfService) -> tuple[dt.date, dt.datetime, dt.datetime]:
    tz = rt.node.hours.tz
    raw = request.query_params.get("day")
    try:
        day = dt.date.fromisoformat(raw) if raw else rt.node.now().astimezone(tz).date()
    except ValueError:
        raise Problem(400, "bad_field", "day must be YYYY-MM-DD", field="day") from None
    first = dt.datetime.combine(day, dt.time(0), tz)
    return day, first, first + dt.timedelta(days=1)


async def staff_bookings_route(request: Request) -> Response:
    rt = runtime(request)
    p = await staff_of(request, "counselor", "supervisor")
    day, first, last = _day_bounds(request, rt)
    mine = p.id if p.role is Role.COUNSELOR else None
    slots = await rt.booking.day(first, last, mine)
    counts = {"booked": 0, "attended": 0, "no_show": 0, "cancelled": 0}
    for s in slots:
        for b in s["bookings"]:
            counts[b["status"]] = counts.get(b["status"], 0) + 1
    return JSONResponse({"day": day.isoformat(), "slots": slots, "counts": counts})


async def staff_attendance_route(request: Request) -> Response:
    rt = runtime(request)
    p = await staff_of(request, "counselor", "supervisor")
    check_origin(request)
    await limit_writes(request, p, "booking")
    bid = parse_id(request.path_params["booking_id"], "booking")
    row = await rt.booking.staff_booking(bid)
    if row is None or (p.role is Role.COUNSELOR and str(row["counselor_id"]) != p.id):
        raise Problem(404, "not_found", "no such booking")
    status = (await json_body(request)).get("status")
    if status not in ATTENDANCE:
        raise Problem(400, "bad_field", "status must be attended or no_show", field="status")
    if row["status"] == "cancelled" or row["starts_at"] > rt.node.now():
        raise Problem(409, "conflict", "attendance is recorded once the slot has started")
    await rt.booking.mark(bid, str(status))
    return JSONResponse({"id": str(bid), "status": status})


async def worker_slots_route(request: Request) -> Response:
    rt = runtime(request)
    await worker_of(request)
    now = rt.node.now()
    return JSONResponse({"slots": await rt.booking.open_slots(now, now + HORIZON),
                         "stations": await rt.booking.stations()})


def _slot_id(data: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(data.get("slot_id")))
    except ValueError:
        raise Problem(400, "bad_field", "slot_id must be a slot id", field="slot_id") from None


async def _book(rt: SelfService, p: Principal, slot_id: uuid.UUID,
                replacing: uuid.UUID | None) -> uuid.UUID:
    try:
        bid = await rt.booking.book(p, slot_id, replacing)
    except SlotTaken:
        raise Problem(409, "slot_taken", "this time was just taken; please choose another"
                      ) from None
    except TooMany:
        raise Problem(409, "too_many_bookings",
                      f"you can hold {MAX_UPCOMING} bookings at a time") from None
    if bid is None:
        raise Problem(404, "not_found", "no such booking")
    return bid


async def _booking_body(rt: SelfService, p: Principal, bid: uuid.UUID) -> dict[str, Any]:
    for b in await rt.booking.readable(p):
        if b["id"] == str(bid):
            return b
    raise Problem(404, "not_found", "no such booking")


async def worker_bookings_route(request: Request) -> Response:
    rt = runtime(request)
    p = await worker_of(request)
    if request.method == "GET":
        # The server's time too: a phone's clock may be wrong, the reminder uses this one.
        return JSONResponse({"bookings": await rt.booking.readable(p),
                             "now": rt.node.now().isoformat()})
    check_origin(request)
    await limit_writes(request, p, "booking")
    bid = await _book(rt, p, _slot_id(await json_body(request)), None)
    return JSONResponse(await _booking_body(rt, p, bid), status_code=201)


async def worker_booking_route(request: Request) -> Response:
    rt = runtime(request)
    p = await worker_of(request)
    check_origin(request)
    bid = parse_id(request.path_params["booking_id"], "booking")
    if request.method == "DELETE":
        if not await rt.booking.cancel(p, bid):
            raise Problem(404, "not_found", "no such booking")
        return Response(status_code=204)
    new = await _book(rt, p, _slot_id(await json_body(request)), bid)
    return JSONResponse(await _booking_body(rt, p, new))


def routes() -> list[BaseRoute]:
    return [
        Route("/api/stations", stations_route),
        Route("/api/admin/stations", admin_stations_route, methods=["GET", "POST"]),
        Route("/api/admin/stations/{station_id}", admin_station_route, methods=["PUT"]),
        Route("/api/staff/slots", staff_slots_route, methods=["POST"]),
        Route("/api/staff/slots/{slot_id}", staff_slot_route, methods=["DELETE"]),
        Route("/api/staff/bookings", staff_bookings_route),
        Route("/api/staff/bookings/{booking_id}/attendance", staff_attendance_route,
              methods=["POST"]),
        Route("/api/worker/slots", worker_slots_route),
        Route("/api/worker/bookings", worker_bookings_route, methods=["GET", "POST"]),
        Route("/api/worker/bookings/{booking_id}", worker_booking_route,
              methods=["PUT", "DELETE"]),
    ]
