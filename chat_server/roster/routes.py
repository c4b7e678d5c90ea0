"""The roster's HTTP routes: shifts, patterns, changes, CSV, coverage, approvals, records."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.sessions import Principal
from chat_server.accounts.staff_routes import staff_principal
from chat_server.problems import Problem, check_origin, field_str, json_body
from chat_server.roster.rules import (
    Change,
    ChangeKind,
    HourCoverage,
    Pattern,
    Person,
    RosterError,
    days_between,
    format_csv,
    format_weekdays,
    gaps_first,
    hhmm,
    parse_csv,
    parse_hhmm,
    parse_week,
    parse_weekdays,
)
from chat_server.roster.service import EDITORS, MAX_CSV_BYTES, Shifts, records_csv
from chat_server.roster.store import shift_json

# The node's roster service, made in the lifespan (routes are made before it).
ShiftsRef = Callable[[], Shifts]

async def _staff(shifts: ShiftsRef, request: Request, *roles: str) -> Principal:
    return await staff_principal(shifts().node, request, *roles)


def _check_origin(shifts: ShiftsRef, request: Request) -> None:
    check_origin(request, shifts().node.settings.allowed_origins)


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


async def shifts_route(shifts: ShiftsRef, request: Request) -> Response:
    await _staff(shifts, request)
    rt = shifts()
    first, last = _range(request)
    people = await rt.store.people()
    return JSONResponse({"shifts": [shift_json(s, people, rt.tz)
                                    for s in await rt.store.shifts(first, last)]})


async def patterns_route(shifts: ShiftsRef, request: Request) -> Response:
    rt = shifts()
    if request.method == "GET":
        await _staff(shifts, request)
        people = await rt.store.people()
        return JSONResponse({"patterns": [_pattern_json(p, people)
                                          for p in await rt.store.patterns()]})
    _check_origin(shifts, request)
    me = await _staff(shifts, request, *EDITORS)
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


async def _delete(shifts: ShiftsRef, request: Request, what: str) -> Response:
    """DELETE a weekly pattern or a one-off change (editors only); 404 if there is none."""
    _check_origin(shifts, request)
    await _staff(shifts, request, *EDITORS)
    rt = shifts()
    delete = rt.store.delete_pattern if what == "pattern" else rt.store.delete_change
    try:
        gone = await delete(request.path_params["id"])
    except RosterError:
        gone = False
    if not gone:
        raise Problem(404, "not_found", f"no such {what}")
    rt.invalidate()
    return Response(status_code=204)


async def pattern_delete(shifts: ShiftsRef, request: Request) -> Response:
    return await _delete(shifts, request, "pattern")


async def changes_route(shifts: ShiftsRef, request: Request) -> Response:
    rt = shifts()
    if request.method == "GET":
        await _staff(shifts, request)
        first, last = _range(request)
        people = await rt.store.people()
        return JSONResponse({"changes": [_change_json(c, people)
                                         for c in await rt.store.changes(first, last)]})
    _check_origin(shifts, request)
    me = await _staff(shifts, request, *EDITORS)
    data = await json_body(request)
    who = await _person(rt, data)
    try:
        kind = ChangeKind(str(data.get("kind")))
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


async def change_delete(shifts: ShiftsRef, request: Request) -> Response:
    return await _delete(shifts, request, "change")


def _csv(text: str, filename: str) -> Response:
    # A BOM so that Excel (common in union offices) reads the Chinese names as UTF-8.
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def export_route(shifts: ShiftsRef, request: Request) -> Response:
    await _staff(shifts, request, *EDITORS)
    rt = shifts()
    first, last = _range(request)
    people = await rt.store.people()
    return _csv(format_csv(await rt.store.shifts(first, last), people),
                f"roster-{first}-{last}.csv")


async def import_route(shifts: ShiftsRef, request: Request) -> Response:
    _check_origin(shifts, request)
    me = await _staff(shifts, request, *EDITORS)
    rt = shifts()
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
        parsed = parse_csv(text, people, first, last, rt.window)
    except RosterError as exc:
        raise _invalid(exc) from None
    changed = await rt.store.import_shifts(first, last, parsed, me.id)
    rt.invalidate()
    return JSONResponse({"from": first.isoformat(), "to": last.isoformat(),
                         "shifts": len(parsed), "days_changed": changed})


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


async def coverage_route(shifts: ShiftsRef, request: Request) -> Response:
    await _staff(shifts, request, *EDITORS)
    rt = shifts()
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


async def today_route(shifts: ShiftsRef, request: Request) -> Response:
    await _staff(shifts, request, *EDITORS)
    rt = shifts()
    node = shifts().node
    now = node.now()
    today = now.astimezone(rt.tz).date()
    people = await rt.store.people()
    todays = await rt.store.shifts(today, today)
    seats = {s.staff_id: s for s in await node.queue.on_duty()}
    current = [s for s in todays if s.start_at(rt.tz) <= now < s.end_at(rt.tz)]
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


async def approvals_route(shifts: ShiftsRef, request: Request) -> Response:
    _check_origin(shifts, request)
    me = await _staff(shifts, request, "supervisor")
    rt = shifts()
    data = await json_body(request)
    who = await _person(rt, data)
    try:
        until = dt.datetime.fromisoformat(str(data.get("until")))
    except ValueError:
        until = None
    now = shifts().node.now()
    if until is None or until.tzinfo is None or not now < until <= now + dt.timedelta(hours=14):
        raise Problem(400, "bad_field", "until must be a time with offset, within 14 hours",
                      field="until")
    await rt.store.approve(who.id, until, me.id)
    await rt.node.services.pool.execute(
        "INSERT INTO audit_log (actor_staff_id, action, reason, detail, at)"
        " VALUES ($1, 'duty_approval', 'unscheduled duty', jsonb_build_object('staff_id', $2::text,"
        " 'until', $3::text), $4)", uuid.UUID(me.id), who.id, until.isoformat(), now)
    return JSONResponse({"staff_id": who.id, "until": until.isoformat()}, status_code=201)


async def records_route(shifts: ShiftsRef, request: Request) -> Response:
    await _staff(shifts, request, *EDITORS)
    rt = shifts()
    week = request.query_params.get("week", "")
    try:
        monday = parse_week(week)
    except ValueError as exc:
        raise Problem(400, "bad_field", str(exc), field="week") from None
    records = await rt.store.records(monday, shifts().node.now())
    if "text/csv" in request.headers.get("accept", ""):
        return _csv(records_csv(records), f"records-{week}.csv")
    return JSONResponse({"week": week, "records": [
        {"staff_id": r.person.id, "username": r.person.username,
         "display_name": r.person.display_name, "role": r.person.role,
         "scheduled_s": r.scheduled_s, "on_duty_s": r.on_duty_s,
         "conversations": r.conversations, "escalations": r.escalations} for r in records]})


def routes(shifts: ShiftsRef) -> list[BaseRoute]:
    return [
        Route("/api/roster/shifts", partial(shifts_route, shifts)),
        Route("/api/roster/patterns", partial(patterns_route, shifts), methods=["GET", "POST"]),
        Route("/api/roster/patterns/{id}", partial(pattern_delete, shifts), methods=["DELETE"]),
        Route("/api/roster/changes", partial(changes_route, shifts), methods=["GET", "POST"]),
        Route("/api/roster/changes/{id}", partial(change_delete, shifts), methods=["DELETE"]),
        Route("/api/roster/export", partial(export_route, shifts)),
        Route("/api/roster/import", partial(import_route, shifts), methods=["POST"]),
        Route("/api/roster/coverage", partial(coverage_route, shifts)),
        Route("/api/roster/today", partial(today_route, shifts)),
        Route("/api/roster/approvals", partial(approvals_route, shifts), methods=["POST"]),
        Route("/api/roster/records", partial(records_route, shifts)),
    ]
