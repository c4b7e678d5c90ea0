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
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_queue.matching import Band
from chat_server.accounts.sessions import Principal
from chat_server.chat.store import Conversation
from chat_server.problems import Problem, check_origin, field_str, json_body
from chat_server.selfservice.booking_store import (
    ATTENDANCE,
    HORIZON,
    MAX_SLOT,
    MAX_UPCOMING,
    MIN_SLOT,
    MODES,
    BookingStore,
    SlotTaken,
    TooMany,
    effective_status,
)
from chat_server.selfservice.service import (
    SelfService,
    SelfServiceRef,
    limit_writes,
    parse_id,
    staff_of,
    worker_of,
)
from chat_server.wire.protocol import Role

# Importers reach these through here (the store moved out of this module).
__all__ = ["BookingStore", "effective_status", "parse_time", "routes"]

if TYPE_CHECKING:
    from chat_server.chat.connection import Connection

log = logging.getLogger("yizhan.booking")

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


async def stations_route(runtime: SelfServiceRef, request: Request) -> Response:
    """Public: the centres and stations (addresses are public places)."""
    return JSONResponse({"stations": await runtime().booking.stations()})


async def admin_stations_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    await staff_of(rt, request, "admin")
    if request.method == "GET":
        return JSONResponse({"stations": await rt.booking.stations(include_disabled=True)})
    check_origin(request, rt.node.settings.allowed_origins)
    row = await rt.booking.save_station(None, station_fields(await json_body(request)))
    return JSONResponse(row, status_code=201)


async def admin_station_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    await staff_of(rt, request, "admin")
    check_origin(request, rt.node.settings.allowed_origins)
    sid = parse_id(request.path_params["station_id"], "station")
    row = await rt.booking.save_station(sid, station_fields(await json_body(request)))
    if row is None:
        raise Problem(404, "not_found", "no such station")
    return JSONResponse(row)


async def _within_roster(rt: SelfService, counselor_id: str, starts: dt.datetime,
                         ends: dt.datetime) -> bool:
    shifts_rt = rt.shifts
    if not await shifts_rt.store.in_use():
        return True  # no roster yet (a fresh install): any time inside the horizon
    tz = shifts_rt.tz
    day = starts.astimezone(tz).date()
    shifts = await shifts_rt.store.shifts(day - dt.timedelta(days=1), day)
    return any(s.staff_id == counselor_id and s.start_at(tz) <= starts and ends <= s.end_at(tz)
               for s in shifts)


async def staff_slots_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await staff_of(rt, request, "counselor")
    check_origin(request, rt.node.settings.allowed_origins)
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
    if not await _within_roster(rt, p.id, starts, ends):
        raise Problem(409, "not_rostered", "a slot must lie inside one of your rostered shifts")
    slot = await rt.booking.add_slot(p.id, starts, ends, str(mode), station_id)
    return JSONResponse(slot, status_code=201)


async def staff_slot_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await staff_of(rt, request, "counselor")
    check_origin(request, rt.node.settings.allowed_origins)
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


async def staff_bookings_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await staff_of(rt, request, "counselor", "supervisor")
    day, first, last = _day_bounds(request, rt)
    mine = p.id if p.role is Role.COUNSELOR else None
    slots = await rt.booking.day(first, last, mine)
    counts = {"booked": 0, "attended": 0, "no_show": 0, "cancelled": 0}
    for s in slots:
        for b in s["bookings"]:
            counts[b["status"]] = counts.get(b["status"], 0) + 1
    return JSONResponse({"day": day.isoformat(), "slots": slots, "counts": counts})


async def staff_attendance_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await staff_of(rt, request, "counselor", "supervisor")
    check_origin(request, rt.node.settings.allowed_origins)
    await limit_writes(rt, p, "booking")
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


async def worker_slots_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    await worker_of(rt, request)
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


async def worker_bookings_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    if request.method == "GET":
        # The server's time too: a phone's clock may be wrong, the reminder uses this one.
        return JSONResponse({"bookings": await rt.booking.readable(p),
                             "now": rt.node.now().isoformat()})
    check_origin(request, rt.node.settings.allowed_origins)
    await limit_writes(rt, p, "booking")
    bid = await _book(rt, p, _slot_id(await json_body(request)), None)
    return JSONResponse(await _booking_body(rt, p, bid), status_code=201)


async def worker_booking_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    check_origin(request, rt.node.settings.allowed_origins)
    bid = parse_id(request.path_params["booking_id"], "booking")
    if request.method == "DELETE":
        if not await rt.booking.cancel(p, bid):
            raise Problem(404, "not_found", "no such booking")
        return Response(status_code=204)
    new = await _book(rt, p, _slot_id(await json_body(request)), bid)
    return JSONResponse(await _booking_body(rt, p, new))


def routes(runtime: SelfServiceRef) -> list[BaseRoute]:
    return [
        Route("/api/stations", partial(stations_route, runtime)),
        Route("/api/admin/stations", partial(admin_stations_route, runtime),
              methods=["GET", "POST"]),
        Route("/api/admin/stations/{station_id}", partial(admin_station_route, runtime),
              methods=["PUT"]),
        Route("/api/staff/slots", partial(staff_slots_route, runtime), methods=["POST"]),
        Route("/api/staff/slots/{slot_id}", partial(staff_slot_route, runtime), methods=["DELETE"]),
        Route("/api/staff/bookings", partial(staff_bookings_route, runtime)),
        Route("/api/staff/bookings/{booking_id}/attendance",
              partial(staff_attendance_route, runtime), methods=["POST"]),
        Route("/api/worker/slots", partial(worker_slots_route, runtime)),
        Route("/api/worker/bookings", partial(worker_bookings_route, runtime),
              methods=["GET", "POST"]),
        Route("/api/worker/bookings/{booking_id}", partial(worker_booking_route, runtime),
              methods=["PUT", "DELETE"]),
    ]
