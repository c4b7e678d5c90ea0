"""Shifts on a running node: roster routes, the duty guard, the draining sweeper, wait hints.

Duty follows the roster: a counselor may go on duty from `duty_lead_minutes` before a shift
until its end, or with a supervisor's approval. At the end, the sweeper marks the seat
draining (no new worker, conversations in progress go on) and takes it off duty once the
last conversation has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.sessions import STAFF_COOKIE, Principal
from chat_server.app import Feature
from chat_server.chat.hub import user_channel
from chat_server.chat.node import Node
from chat_server.chat.routes import node_of, principal
from chat_server.crisis.hotlines import HOTLINES
from chat_server.periodic import cancel, every
from chat_server.problems import Problem, check_origin, field_str, json_body, require_role
from chat_server.roster.rules import (
    Change,
    ChangeKind,
    HourCoverage,
    Pattern,
    Person,
    RosterError,
    Shift,
    Window,
    coverage,
    days_between,
    duty_allowed,
    format_csv,
    format_weekdays,
    gaps_first,
    hhmm,
    next_shift,
    parse_csv,
    parse_hhmm,
    parse_targets,
    parse_week,
    parse_weekdays,
    wait_outlook,
)
from chat_server.roster.store import Record, RosterStore, shift_json
from chat_server.services import Services
from chat_server.wire.protocol import ErrorCode, ProtocolError

log = logging.getLogger("yizhan.shifts")

SWEEP_S = 2.0
CACHE_S = 10.0  # how stale the wait hint may be (it runs every second per waiting worker)
MAX_CSV_BYTES = 1 << 20
EDITORS = ("supervisor", "admin")
NEXT_SHIFT_DAYS = 14  # how far ahead a refused counselor is told their next shift


class Shifts:
    def __init__(self, node: Node) -> None:
        s = node.settings
        self.node = node
        self.tz = s.tz
        self.window = Window.of(s.open_time, s.close_time, s.closed_days)
        self.store = RosterStore(node.services.pool, self.tz, self.window, node.time)
        self.targets = parse_targets(s.coverage_targets)
        self.lead = dt.timedelta(minutes=s.duty_lead_minutes)
        # (local date, monotonic time) → (roster in use, counselor shifts around that date)
        self._cache: tuple[dt.date, float, bool, list[Shift]] | None = None

    def invalidate(self) -> None:
        self._cache = None

    # ---- duty -------------------------------------------------------------------------

    async def may_be_on_duty(self, staff_id: str, now: dt.datetime,
                             shifts: list[Shift] | None = None) -> bool:
        if shifts is None:
            shifts = await self.store.shifts_around(now)
        mine = [s for s in shifts if s.staff_id == staff_id]
        if duty_allowed(mine, now, self.tz, self.lead):
            return True
        return await self.store.approved_until(staff_id, now) is not None

    async def guard(self, staff_id: str, now: dt.datetime) -> str | None:
        """Node duty guard: an error message, or None to let this counselor on duty."""
        if not self.node.settings.duty_requires_roster:
            return None
        shifts = await self.store.shifts_around(now)
        if await self.may_be_on_duty(staff_id, now, shifts):
            return None
        lead = int(self.lead.total_seconds() // 60)
        upcoming = next_shift([s for s in shifts if s.staff_id == staff_id], now, self.tz)
        if upcoming is None:  # not in the next day or so: look two weeks ahead
            today = now.astimezone(self.tz).date()
            later = await self.store.shifts(today, today + dt.timedelta(days=NEXT_SHIFT_DAYS))
            upcoming = next_shift([s for s in later if s.staff_id == staff_id], now, self.tz)
        when = ""
        extra: dict[str, Any] = {"reason": "not_scheduled", "next_shift": None,
                                 "lead_minutes": lead}
        if upcoming is not None:
            when = (f" Your next shift starts {upcoming.day} {hhmm(upcoming.start)};"
                    f" duty opens {lead} minutes before.")
            extra["next_shift"] = {"start": upcoming.start_at(self.tz).isoformat(),
                                   "end": upcoming.end_at(self.tz).isoformat()}
        # Raised here rather than returned, so the page gets the next shift as data and
        # can say it in the counselor's language.
        raise ProtocolError(ErrorCode.FORBIDDEN,
                            f"you are not scheduled now.{when} To go on duty anyway, ask a"
                            " supervisor for approval.", **extra)

    async def sweep(self) -> None:
        """Drain counselors whose shift has ended; off duty once their last chat ends."""
        node = self.node
        if not node.settings.duty_requires_roster or node.dispatcher is None:
            return
        now = node.now()
        seats = await node.queue.on_duty()
        if not seats:
            return
        shifts = await self.store.shifts_around(now)
        for seat in seats:
            if await self.may_be_on_duty(seat.staff_id, now, shifts):
                continue
            if not seat.draining:
                await node.queue.set_draining(seat.staff_id, True)
                await self._audit(seat.staff_id, "duty_drain")
                log.info("shift ended: draining", extra={"fields": {"staff": seat.staff_id}})
            elif seat.load == 0:
                await node.queue.counselor_off_duty(seat.staff_id)
                await self._audit(seat.staff_id, "duty_off")
            else:
                continue
            after = next((s for s in await node.queue.on_duty()
                          if s.staff_id == seat.staff_id), None)
            frame = node.dispatcher._duty_frame(seat.capacity, after, seat.load)
            await node.hub.publish(user_channel(seat.staff_id), {"t": "duty", "frame": frame})
        node.dispatcher.kick()

    async def _audit(self, staff_id: str, action: str) -> None:
        await self.node.services.pool.execute(
            "INSERT INTO audit_log (actor_staff_id, action, reason, at) VALUES ($1, $2, $3, $4)",
            uuid.UUID(staff_id), action, "shift ended", self.node.now())

    # ---- waiting ----------------------------------------------------------------------

    async def _counselor_shifts(self, now: dt.datetime) -> tuple[bool, list[Shift]]:
        today = now.astimezone(self.tz).date()
        c = self._cache
        if c and c[0] == today and time.monotonic() - c[1] < CACHE_S:
            return c[2], c[3]
        in_use = await self.store.in_use()
        people = await self.store.people()
        shifts = [s for s in await self.store.shifts_around(now)
                  if people.get(s.staff_id, Person("", "", "", "")).role == "counselor"]
        self._cache = (today, time.monotonic(), in_use, shifts)
        return in_use, shifts

    async def wait_hook(self, estimate: int | None) -> dict[str, Any]:
        """Dispatcher wait hook: the roster's word on a waiting worker's prospects."""
        now = self.node.now()
        in_use, shifts = await self._counselor_shifts(now)
        if not in_use:
            return {}  # no roster kept here: claim nothing
        outlook = wait_outlook(shifts, now, self.tz, estimate)
        out: dict[str, Any] = {
            "no_counselor_scheduled_soon": outlook.no_counselor_scheduled_soon,
            "scheduled_until": (outlook.scheduled_until.astimezone(self.tz).isoformat()
                                if outlook.scheduled_until else None),
        }
        if outlook.estimated_wait_s != estimate:
            out["estimated_wait_s"] = outlook.estimated_wait_s
        if outlook.no_counselor_scheduled_soon:
            out["hotlines"] = HOTLINES
        return out

    # ---- views ------------------------------------------------------------------------

    async def coverage(self, first: dt.date, days: int) -> list[HourCoverage]:
        last = first + dt.timedelta(days=days - 1)
        people = await self.store.people()
        roles = {k: p.role for k, p in people.items()}
        return coverage(await self.store.shifts(first, last), roles, days_between(first, last),
                        self.window, self.targets)


def shifts_of(request: Request) -> Shifts:
    return request.app.state.shifts  # type: ignore[no-any-return]


def feature(get_app: Callable[[], Starlette]) -> Feature:
    """The per-node lifespan part; runs after the chat feature has built the node."""

    @contextlib.asynccontextmanager
    async def shifts(services: Services) -> AsyncIterator[None]:
        app = get_app()
        node: Node = app.state.node
        rt = Shifts(node)
        app.state.shifts = rt
        node.duty_guards.append(rt.guard)
        if node.dispatcher is not None:
            node.dispatcher.wait_hooks.append(rt.wait_hook)
        task = asyncio.create_task(every(SWEEP_S, rt.sweep, "roster sweep"),
                                   name="roster-sweeper")
        try:
            yield
        finally:
            await cancel(task)

    return shifts


# ---- HTTP -------------------------------------------------------------------------------


async def _staff(request: Request, *roles: str) -> Principal:
    return require_role(await principal(request, STAFF_COOKIE), *roles)


# Dates a roster may name; far ones would overflow date arithmetic (a week on from 9999).
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2199, 12, 31)


def _date(text: object, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise Problem(400, "bad_field", f"{name} must be a date YYYY-MM-DD from"
                      f" {FIRST_DAY} to {LAST_DAY}", field=name)
    return day


def _range(request: Request) -> tuple[dt.date, dt.date]:
    q = request.query_params
    first, last = _date(q.get("from"), "from"), _date(q.get("to"), "to")
    try:
        days_between(first, last)
    except RosterError as exc:
        raise Problem(400, "bad_field", exc.errors[0], field="to") from None
    return first, last


def _invalid(exc: RosterError) -> Problem:
    return Problem(400, "roster_invalid", "; ".join(exc.errors[:5]), errors=exc.errors)


async def _person(rt: Shifts, data: dict[str, Any]) -> Person:
    people = await rt.store.people()
    ref = data.get("staff_id") or data.get("username")
    for p in people.values():
        if ref in (p.id, p.username):
            if p.role not in ("counselor", "supervisor"):
                raise Problem(400, "bad_field", "only counselors and supervisors are rostered",
                              field="staff_id")
            return p
    raise Problem(400, "bad_field", "no such staff member", field="staff_id")


def _minutes(data: dict[str, Any], name: str, default: int | None = None) -> int:
    raw = data.get(name)
    if raw is None and default is not None:
        return default
    try:
        return parse_hhmm(str(raw)) if isinstance(raw, str) else parse_hhmm("")
    except ValueError:
        raise Problem(400, "bad_field", f"{name} must be HH:MM (00:00–24:00)",
                      field=name) from None


def _optional_date(data: dict[str, Any], name: str) -> dt.date | None:
    return None if data.get(name) is None else _date(str(data[name]), name)


def _pattern_json(p: Pattern, people: dict[str, Person]) -> dict[str, Any]:
    who = people.get(p.staff_id)
    return {"id": p.id, "staff_id": p.staff_id, "username": who.username if who else None,
            "weekdays": format_weekdays(p.weekdays), "start": hhmm(p.start), "end": hhmm(p.end),
            "valid_from": p.valid_from.isoformat() if p.valid_from else None,
            "valid_until": p.valid_until.isoformat() if p.valid_until else None, "note": p.note}


def _change_json(c: Change, people: dict[str, Person]) -> dict[str, Any]:
    who = people.get(c.staff_id)
    return {"id": c.id, "staff_id": c.staff_id, "username": who.username if who else None,
            "date": c.day.isoformat(), "kind": str(c.kind), "start": hhmm(c.start),
            "end": hhmm(c.end), "note": c.note}


async def shifts_route(request: Request) -> Response:
    await _staff(request)
    rt = shifts_of(request)
    first, last = _range(request)
    people = await rt.store.people()
    return JSONResponse({"shifts": [shift_json(s, people, rt.tz)
                                    for s in await rt.store.shifts(first, last)]})


async def patterns_route(request: Request) -> Response:
    rt = shifts_of(request)
    if request.method == "GET":
        await _staff(request)
        people = await rt.store.people()
        return JSONResponse({"patterns": [_pattern_json(p, people)
                                          for p in await rt.store.patterns()]})
    check_origin(request)
    me = await _staff(request, *EDITORS)
    data = await json_body(request)
    who = await _person(rt, data)
    try:
        weekdays = parse_weekdays(field_str(data, "weekdays", max_len=64) or "")
    except ValueError as exc:
        raise Problem(400, "bad_field", str(exc), field="weekdays") from None
    note = field_str(data, "note", max_len=200, required=False) or ""
    p = Pattern(who.id, weekdays, _minutes(data, "start"), _minutes(data, "end"),
                _optional_date(data, "valid_from"), _optional_date(data, "valid_until"), note)
    try:
        saved = await rt.store.add_pattern(p, me.id)
    except RosterError as exc:
        raise _invalid(exc) from None
    rt.invalidate()
    return JSONResponse(_pattern_json(saved, await rt.store.people()), status_code=201)


async def _delete(request: Request, what: str) -> Response:
    """DELETE a weekly pattern or a one-off change (editors only); 404 if there is none."""
    check_origin(request)
    await _staff(request, *EDITORS)
    rt = shifts_of(request)
    delete = rt.store.delete_pattern if what == "pattern" else rt.store.delete_change
    try:
        gone = await delete(request.path_params["id"])
    except RosterError:
        gone = False
    if not gone:
        raise Problem(404, "not_found", f"no such {what}")
    rt.invalidate()
    return Response(status_code=204)


async def pattern_delete(request: Request) -> Response:
    return await _delete(request, "pattern")


async def changes_route(request: Request) -> Response:
    rt = shifts_of(request)
    if request.method == "GET":
        await _staff(request)
        first, last = _range(request)
        people = await rt.store.people()
        return JSONResponse({"changes": [_change_json(c, people)
                                         for c in await rt.store.changes(first, last)]})
    check_origin(request)
    me = await _staff(request, *EDITORS)
    data = await json_body(request)
    who = await _person(rt, data)
    try:
        kind = ChangeKind(data.get("kind"))
    except ValueError:
        raise Problem(400, "bad_field", "kind must be leave or extra", field="kind") from None
    # Leave without times is a whole day's leave.
    whole = kind is ChangeKind.LEAVE
    c = Change(who.id, _date(data.get("date"), "date"), kind,
               _minutes(data, "start", rt.window.open if whole else None),
               _minutes(data, "end", rt.window.close if whole else None),
               field_str(data, "note", max_len=200, required=False) or "")
    try:
        saved = await rt.store.add_change(c, me.id)
    except RosterError as exc:
        raise _invalid(exc) from None
    rt.invalidate()
    return JSONResponse(_change_json(saved, await rt.store.people()), status_code=201)


async def change_delete(request: Request) -> Response:
    return await _delete(request, "change")


def _csv(text: str, filename: str) -> Response:
    # A BOM so that Excel (common in union offices) reads the Chinese names as UTF-8.
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def export_route(request: Request) -> Response:
    await _staff(request, *EDITORS)
    rt = shifts_of(request)
    first, last = _range(request)
    people = await rt.store.people()
    return _csv(format_csv(await rt.store.shifts(first, last), people),
                f"roster-{first}-{last}.csv")


async def import_route(request: Request) -> Response:
    check_origin(request)
    me = await _staff(request, *EDITORS)
    rt = shifts_of(request)
    first, last = _range(request)
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise Problem(400, "bad_field", "CSV larger than 1 MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "roster_invalid", "CSV must be UTF-8", errors=["not UTF-8"]) from None
    people = {p.username: p for p in (await rt.store.people()).values()}
    try:
        shifts = parse_csv(text, people, first, last, rt.window)
    except RosterError as exc:
        raise _invalid(exc) from None
    changed = await rt.store.import_shifts(first, last, shifts, me.id)
    rt.invalidate()
    return JSONResponse({"from": first.isoformat(), "to": last.isoformat(),
                         "shifts": len(shifts), "days_changed": changed})


def _hour_json(h: HourCoverage, people: dict[str, Person]) -> dict[str, Any]:
    def names(ids: tuple[str, ...]) -> list[dict[str, str]]:
        return [{"id": i, "display_name": people[i].display_name if i in people else ""}
                for i in ids]

    return {"date": h.day.isoformat(), "hour": f"{h.hour:02d}:00",
            "counselors": names(h.counselors), "supervisors": names(h.supervisors),
            "target": {"counselors": h.target.counselors, "supervisors": h.target.supervisors},
            "missing": {"counselors": h.missing_counselors,
                        "supervisors": h.missing_supervisors},
            "gap": h.gap}


async def coverage_route(request: Request) -> Response:
    await _staff(request, *EDITORS)
    rt = shifts_of(request)
    first = _date(request.query_params.get("date"), "date")
    try:
        days = int(request.query_params.get("days", "1"))
    except ValueError:
        days = 0
    if not 1 <= days <= 31:
        raise Problem(400, "bad_field", "days must be from 1 to 31", field="days")
    hours = gaps_first(await rt.coverage(first, days))
    people = await rt.store.people()
    return JSONResponse({"date": first.isoformat(), "days": days,
                         "gaps": sum(h.gap for h in hours),
                         "hours": [_hour_json(h, people) for h in hours]})


async def today_route(request: Request) -> Response:
    await _staff(request, *EDITORS)
    rt = shifts_of(request)
    node = node_of(request)
    now = node.now()
    today = now.astimezone(rt.tz).date()
    people = await rt.store.people()
    shifts = await rt.store.shifts(today, today)
    seats = {s.staff_id: s for s in await node.queue.on_duty()}
    current = [s for s in shifts if s.start_at(rt.tz) <= now < s.end_at(rt.tz)]
    missing = []
    for s in current:
        role = people[s.staff_id].role if s.staff_id in people else ""
        seat = seats.get(s.staff_id)
        # Only counselors have a duty seat; supervisors are listed under scheduled_now.
        if role == "counselor" and (seat is None or not seat.present):
            missing.append(shift_json(s, people, rt.tz))
    hours = gaps_first(await rt.coverage(today, 1))
    return JSONResponse({
        "date": today.isoformat(), "now": now.astimezone(rt.tz).isoformat(),
        "scheduled_now": [shift_json(s, people, rt.tz) for s in current],
        "scheduled_not_on_duty": missing,
        "gaps": sum(h.gap for h in hours),
        "coverage": [_hour_json(h, people) for h in hours],
    })


async def approvals_route(request: Request) -> Response:
    check_origin(request)
    me = await _staff(request, "supervisor")
    rt = shifts_of(request)
    data = await json_body(request)
    who = await _person(rt, data)
    try:
        until = dt.datetime.fromisoformat(str(data.get("until")))
    except ValueError:
        until = None
    now = node_of(request).now()
    if until is None or until.tzinfo is None or not now < until <= now + dt.timedelta(hours=14):
        raise Problem(400, "bad_field", "until must be a time with offset, within 14 hours",
                      field="until")
    await rt.store.approve(who.id, until, me.id)
    await rt.node.services.pool.execute(
        "INSERT INTO audit_log (actor_staff_id, action, reason, detail, at)"
        " VALUES ($1, 'duty_approval', 'unscheduled duty', jsonb_build_object('staff_id', $2::text,"
        " 'until', $3::text), $4)", uuid.UUID(me.id), who.id, until.isoformat(), now)
    return JSONResponse({"staff_id": who.id, "until": until.isoformat()}, status_code=201)


def records_csv(records: list[Record]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["username", "display_name", "role", "scheduled_hours", "on_duty_hours",
                "conversations", "escalations"])
    for r in records:
        w.writerow([r.person.username, r.person.display_name, r.person.role,
                    f"{r.scheduled_s / 3600:.2f}", f"{r.on_duty_s / 3600:.2f}", r.conversations,
                    "" if r.escalations is None else r.escalations])
    return buf.getvalue()


async def records_route(request: Request) -> Response:
    await _staff(request, *EDITORS)
    rt = shifts_of(request)
    week = request.query_params.get("week", "")
    try:
        monday = parse_week(week)
    except ValueError as exc:
        raise Problem(400, "bad_field", str(exc), field="week") from None
    records = await rt.store.records(monday, node_of(request).now())
    if "text/csv" in request.headers.get("accept", ""):
        return _csv(records_csv(records), f"records-{week}.csv")
    return JSONResponse({"week": week, "records": [
        {"staff_id": r.person.id, "username": r.person.username,
         "display_name": r.person.display_name, "role": r.person.role,
         "scheduled_s": r.scheduled_s, "on_duty_s": r.on_duty_s,
         "conversations": r.conversations, "escalations": r.escalations} for r in records]})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/roster/shifts", shifts_route),
        Route("/api/roster/patterns", patterns_route, methods=["GET", "POST"]),
        Route("/api/roster/patterns/{id}", pattern_delete, methods=["DELETE"]),
        Route("/api/roster/changes", changes_route, methods=["GET", "POST"]),
        Route("/api/roster/changes/{id}", change_delete, methods=["DELETE"]),
        Route("/api/roster/export", export_route),
        Route("/api/roster/import", import_route, methods=["POST"]),
        Route("/api/roster/coverage", coverage_route),
        Route("/api/roster/today", today_route),
        Route("/api/roster/approvals", approvals_route, methods=["POST"]),
        Route("/api/roster/records", records_route),
    ]
