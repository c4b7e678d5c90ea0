"""Booking in PostgreSQL: stations, counselors' slots, workers' bookings.

A slot holds one live booking (a unique partial index: the conditional insert is the lock).
The routes and the booked chat are in selfservice/booking.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from chat_server.accounts.possession import may_read, own_device
from chat_server.accounts.sessions import Principal
from chat_server.clock import Clock
from chat_server.problems import Problem
from yizhan_errors import YizhanError


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# A booked online chat may start this long before its slot (and until the slot ends).
EARLY = dt.timedelta(minutes=10)
MAX_UPCOMING = 2  # live bookings one worker may hold at once: places are scarce
MIN_SLOT = dt.timedelta(minutes=15)
MAX_SLOT = dt.timedelta(hours=3)
HORIZON = dt.timedelta(days=60)
MODES = ("online", "in_person")
ATTENDANCE = ("attended", "no_show")


class SlotTaken(YizhanError):
    pass


class TooMany(YizhanError):
    pass


def effective_status(status: str, ends_at: dt.datetime, now: dt.datetime) -> str:
    """A booking still 'booked' after its slot ended was missed."""
    return "no_show" if status == "booked" and ends_at <= now else status


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
            "starts_at": _iso(r["starts_at"]), "ends_at": _iso(r["ends_at"]), "mode": r["mode"],
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
        return list(await conn.fetch(
            "SELECT b.id, b.owner_session, b.owner_device, b.status, b.conversation_id,"
            f" b.created_at, {_SLOT_COLUMNS}{_SLOT_FROM} JOIN bookings b ON b.slot_id = sl.id"
            " WHERE b.worker_id = $1 ORDER BY sl.starts_at DESC LIMIT 100",
            uuid.UUID(worker_id)))

    def _view(self, r: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
        return {"id": str(r["id"]), "status": effective_status(r["status"], r["ends_at"], now),
                "slot": slot_view(r), "created_at": _iso(r["created_at"])}

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
                booking_id: uuid.UUID = await conn.fetchval(
                    "INSERT INTO bookings (slot_id, worker_id, owner_session, owner_device,"
                    " status, created_at, updated_at) VALUES ($1, $2, $3, $5, 'booked', $4, $4)"
                    " RETURNING id", slot_id, uuid.UUID(p.id), p.token_hash, now,
                    own_device(p))
                return booking_id
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
        return list(await self.pool.fetch(
            "SELECT b.id, c.id AS conversation_id, sl.counselor_id FROM bookings b"
            " JOIN booking_slots sl ON sl.id = b.slot_id"
            " JOIN conversations c ON c.id = b.conversation_id"
            " WHERE b.status = 'booked' AND c.status = 'waiting' AND sl.ends_at > $1", now))

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
                    "updated_at": _iso(r["updated_at"])})
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
