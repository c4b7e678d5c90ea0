"""Reports of the self-service: assessments by band, bookings and no-shows, open-day fill
rates and teacher ratings. Any count under 5 is shown as "<5" (and so is anything computed
from it: a rate or an average), so no small group can be told apart."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.problems import Problem
from chat_server.selfservice.booking_store import effective_status
from chat_server.selfservice.service import SelfServiceRef, iso, staff_of

SMALL = 5
SUPPRESSED = "<5"
MAX_DAYS = 400


def count(n: int) -> int | str:
    return SUPPRESSED if n < SMALL else n


def average(total: int, n: int) -> float | str:
    return SUPPRESSED if n < SMALL else round(total / n, 2)


def rate(part: int, whole: int) -> float | str:
    """A fill rate, hidden when the count it reveals is small."""
    return SUPPRESSED if part < SMALL or whole <= 0 else round(part / whole, 3)


def _range(request: Request, tz: Any, today: dt.date) -> tuple[dt.date, dt.date]:
    try:
        last = dt.date.fromisoformat(request.query_params.get("to", today.isoformat()))
        first = dt.date.fromisoformat(request.query_params.get(
            "from", (last - dt.timedelta(days=29)).isoformat()))
    except ValueError:
        raise Problem(400, "bad_field", "from and to must be YYYY-MM-DD", field="from") from None
    if first > last or (last - first).days > MAX_DAYS:
        raise Problem(400, "bad_field", f"from must be before to, at most {MAX_DAYS} days",
                      field="from")
    return first, last


async def report_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    await staff_of(rt, request, "supervisor", "admin")
    node = rt.node
    tz = node.hours.tz
    now = node.now()
    first, last = _range(request, tz, now.astimezone(tz).date())
    start = dt.datetime.combine(first, dt.time(0), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz)
    pool = node.services.pool

    bands: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await pool.fetch(
            "SELECT scale, band, sum(n)::int AS n FROM assessment_counts"
            " WHERE day BETWEEN $1 AND $2 GROUP BY scale, band", first, last):
        bands[r["scale"]][r["band"]] = r["n"]
    flags = await pool.fetchval(
        "SELECT count(*) FROM assessment_priority WHERE created_at >= $1 AND created_at < $2",
        start, end)

    booking_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    slots = 0
    for r in await pool.fetch(
            "SELECT sl.mode, sl.ends_at, b.status FROM booking_slots sl"
            " LEFT JOIN bookings b ON b.slot_id = sl.id"
            " WHERE sl.starts_at >= $1 AND sl.starts_at < $2 AND sl.withdrawn_at IS NULL",
            start, end):
        if r["status"] is None:
            slots += 1
            continue
        booking_counts[r["mode"]][effective_status(r["status"], r["ends_at"], now)] += 1
    slots += sum(n for m in booking_counts.values() for s, n in m.items() if s != "cancelled")

    events = []
    for r in await pool.fetch(
            "SELECT e.theme, e.teacher, e.starts_at, e.capacity,"
            " count(*) FILTER (WHERE s.status = 'confirmed')::int AS confirmed,"
            " count(*) FILTER (WHERE s.status = 'waiting')::int AS waiting,"
            " count(s.rating)::int AS ratings, coalesce(sum(s.rating), 0)::int AS total"
            " FROM open_days e LEFT JOIN open_day_signups s ON s.event_id = e.id"
            " WHERE e.starts_at >= $1 AND e.starts_at < $2"
            " GROUP BY e.id ORDER BY e.starts_at", start, end):
        events.append({"theme": r["theme"], "teacher": r["teacher"],
                       "starts_at": iso(r["starts_at"]), "capacity": r["capacity"],
                       "confirmed": count(r["confirmed"]), "waiting": count(r["waiting"]),
                       "fill_rate": rate(r["confirmed"], r["capacity"]),
                       "ratings": count(r["ratings"]),
                       "average": average(r["total"], r["ratings"])})

    teachers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in await pool.fetch(
            "SELECT e.teacher, to_char(e.starts_at AT TIME ZONE $3, 'YYYY-MM') AS month,"
            " count(s.rating)::int AS n, coalesce(sum(s.rating), 0)::int AS total,"
            " count(*) FILTER (WHERE s.rating <= 2)::int AS low"
            " FROM open_days e JOIN open_day_signups s ON s.event_id = e.id"
            " WHERE s.rating IS NOT NULL AND e.starts_at >= $1 AND e.starts_at < $2"
            " GROUP BY e.teacher, month ORDER BY e.teacher, month", start, end, tz.key):
        teachers[r["teacher"]].append({"month": r["month"], "ratings": count(r["n"]),
                                       "average": average(r["total"], r["n"]),
                                       "low": count(r["low"])})

    return JSONResponse({
        "from": first.isoformat(), "to": last.isoformat(), "small_count": SUPPRESSED,
        "assessments": {scale: {b: count(n) for b, n in by.items()}
                        for scale, by in bands.items()},
        "item9_flags": count(flags),
        "bookings": {"slots": count(slots),
                     "by_mode": {m: {s: count(n) for s, n in by.items()}
                                 for m, by in booking_counts.items()}},
        "open_days": events,
        "teachers": [{"teacher": t, "months": months} for t, months in teachers.items()],
    })


def routes(runtime: SelfServiceRef) -> list[BaseRoute]:
    return [Route("/api/supervisor/services-report", partial(report_route, runtime))]
