"""Monthly (or any range's) figures for the federation: counts, waits, ratings, escalations,
referrals, follow-ups, hours covered, retention.

Only counts and durations, never a word anyone wrote. Workers are counted by pseudonym
row and never listed. A count from 1 to 4 is shown as "<5" (and a percentile of fewer
than 5 values is withheld), so a small cell cannot point to a person; 0 is shown as 0.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.staff_routes import staff_principal
from chat_server.problems import Problem
from chat_server.roster.rules import HourCoverage

SMALL = 5
MAX_DAYS = 366
LEVELS = {1: "watch", 2: "high", 3: "imminent"}
REFERRAL_STATUSES = ("proposed", "accepted", "declined", "contacted", "completed")

Cell = int | str | None


def cell(n: int) -> int | str:
    return "<5" if 0 < n < SMALL else n


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, withheld (None) under SMALL values."""
    if len(values) < SMALL:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def local_range(first: dt.date, last: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(first, dt.time(), tz),
            dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz))


def parse_range(q: Any, today: dt.date) -> tuple[dt.date, dt.date]:
    """?month=YYYY-MM, or ?from=YYYY-MM-DD&to=YYYY-MM-DD (inclusive); default this month."""
    try:
        if q.get("from") or q.get("to"):
            first = dt.date.fromisoformat(q.get("from", ""))
            last = dt.date.fromisoformat(q.get("to", ""))
        else:
            month = q.get("month") or today.strftime("%Y-%m")
            first = dt.date.fromisoformat(month + "-01")
            last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) \
                - dt.timedelta(days=1)
    except ValueError:
        raise Problem(400, "bad_field", "give month=YYYY-MM, or from and to as YYYY-MM-DD",
                      field="month") from None
    if last < first or (last - first).days >= MAX_DAYS:
        raise Problem(400, "bad_field", f"to must be on or after from, at most {MAX_DAYS} days",
                      field="to")
    return first, last


def on_duty_intervals(events: Sequence[asyncpg.Record], end: dt.datetime
                      ) -> list[tuple[dt.datetime, dt.datetime]]:
    """(start, stop) per counselor from ordered duty_on/duty_off events; open ones stop at
    `end` (a node that died without a duty_off)."""
    since: dict[Any, dt.datetime] = {}
    out = []
    for e in events:
        who = e["actor_staff_id"]
        if e["action"] == "duty_on":
            since.setdefault(who, e["at"])
        elif who in since:
            out.append((since.pop(who), e["at"]))
    out.extend((start, end) for start in since.values())
    return out


def hours_covered(hours: Sequence[HourCoverage], intervals: Sequence[tuple[dt.datetime,
                  dt.datetime]], tz: dt.tzinfo) -> dict[str, int]:
    """Service hours; those the roster covered (≥ 1 counselor for the whole hour); those a
    counselor was actually on duty (at any moment of the hour)."""
    scheduled = staffed = 0
    for h in hours:
        start = dt.datetime.combine(h.day, dt.time(h.hour), tz)
        stop = start + dt.timedelta(hours=1)
        if h.counselors:
            scheduled += 1
        if any(a < stop and b > start for a, b in intervals):
            staffed += 1
    return {"service_hours": len(hours), "roster_covered": scheduled, "on_duty": staffed}


async def figures(pool: asyncpg.Pool, first: dt.date, last: dt.date, tz: dt.tzinfo,
                  hours: Sequence[HourCoverage], now: dt.datetime, per_counselor: bool
                  ) -> dict[str, Any]:
    start, end = local_range(first, last, tz)
    convs = await pool.fetch(
        "SELECT c.worker_id, c.status, c.queued_at, c.matched_at, c.ended_at, c.created_at"
        " FROM conversations c WHERE c.created_at >= $1 AND c.created_at < $2", start, end)
    waits = [(c["matched_at"] - c["queued_at"]).total_seconds() for c in convs
             if c["matched_at"] is not None]
    lengths = [(c["ended_at"] - c["matched_at"]).total_seconds() / 60 for c in convs
               if c["matched_at"] is not None and c["ended_at"] is not None]
    left = sum(1 for c in convs if c["matched_at"] is None and c["status"] in
               ("abandoned", "ended"))
    daily: Counter[str] = Counter(c["created_at"].astimezone(tz).date().isoformat()
                                  for c in convs)
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]

    ratings = await pool.fetch(
        "SELECT r.score, r.counselor_id, s.display_name FROM ratings r"
        " LEFT JOIN staff s ON s.id = r.counselor_id"
        " WHERE r.created_at >= $1 AND r.created_at < $2", start, end)
    dist = Counter(r["score"] for r in ratings)
    by_counselor: dict[str, list[int]] = defaultdict(list)
    for r in ratings:
        by_counselor[r["display_name"] or "—"].append(r["score"])

    escs = await pool.fetch(
        "SELECT level, opened_at, ack_deadline, acked_at FROM escalations"
        " WHERE opened_at >= $1 AND opened_at < $2", start, end)
    acks = [(e["acked_at"] - e["opened_at"]).total_seconds() for e in escs
            if e["acked_at"] is not None]
    breaches = sum(1 for e in escs if (e["acked_at"] or min(now, end)) > e["ack_deadline"])
    referrals = Counter(r["status"] for r in await pool.fetch(
        "SELECT status FROM referrals WHERE created_at >= $1 AND created_at < $2", start, end))
    follow = await pool.fetchrow(
        "SELECT count(*) AS due, count(done_at) AS done,"
        " count(*) FILTER (WHERE done_at IS NOT NULL AND done_at <= due_at + interval '1 day')"
        " AS on_time FROM referral_followups WHERE due_at >= $1 AND due_at < $2", start, end)
    shreds = Counter(r["action"] for r in await pool.fetch(
        "SELECT action FROM audit_log WHERE action IN ('retention_shred',"
        " 'worker_deleted_history') AND at >= $1 AND at < $2", start, end))
    events = await pool.fetch(
        "SELECT actor_staff_id, action, at FROM audit_log WHERE action IN ('duty_on',"
        " 'duty_off') AND at < $2 AND at >= $1::timestamptz - interval '1 day' ORDER BY at, id",
        start, end)
    intervals = on_duty_intervals(events, min(now, end))

    out: dict[str, Any] = {
        "from": first.isoformat(), "to": last.isoformat(),
        "conversations": {
            "total": cell(len(convs)),
            "distinct_workers": cell(len({c["worker_id"] for c in convs})),
            "matched": cell(len(waits)),
            "left_before_match": cell(left),
            "wait_seconds": {"p50": percentile(waits, 0.5), "p90": percentile(waits, 0.9)},
            "length_minutes": {"p50": percentile(lengths, 0.5), "p90": percentile(lengths, 0.9)},
            "daily": [{"date": d, "count": cell(daily.get(d, 0))} for d in days],
        },
        "ratings": {
            "count": cell(len(ratings)),
            "distribution": {str(s): cell(dist.get(s, 0)) for s in range(1, 6)},
            "mean": (round(sum(r["score"] for r in ratings) / len(ratings), 2)
                     if len(ratings) >= SMALL else None),
        },
        "escalations": {
            "total": cell(len(escs)),
            "by_level": {name: cell(sum(1 for e in escs if e["level"] == lvl))
                         for lvl, name in LEVELS.items()},
            "ack_seconds": {"p50": percentile(acks, 0.5), "p90": percentile(acks, 0.9)},
            "breaches": cell(breaches),
        },
        "referrals": {"total": cell(sum(referrals.values())),
                      "by_status": {s: cell(referrals.get(s, 0)) for s in REFERRAL_STATUSES}},
        "followups": {"due": cell(follow["due"]), "done": cell(follow["done"]),
                      "done_on_time": cell(follow["on_time"])},
        "hours": hours_covered(hours, intervals, tz),
        "retention": {"shredded_by_retention": cell(shreds.get("retention_shred", 0)),
                      "deleted_by_workers": cell(shreds.get("worker_deleted_history", 0))},
    }
    if per_counselor:
        out["ratings"]["per_counselor"] = [
            {"counselor": name, "count": cell(len(v)),
             "mean": round(sum(v) / len(v), 2) if len(v) >= SMALL else None}
            for name, v in sorted(by_counselor.items())]
    return out


def rows(report: dict[str, Any]) -> list[tuple[str, str, Cell]]:
    """The report flattened to (section, figure, value): one table for CSV and XLSX."""
    out: list[tuple[str, str, Cell]] = [("range", "from", report["from"]),
                                        ("range", "to", report["to"])]

    def walk(section: str, prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(section, f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, list):
            for item in value:
                label = item.get("date") or item.get("counselor")
                for k, v in item.items():
                    if k not in ("date", "counselor"):
                        walk(section, f"{prefix}.{label}.{k}", v)
        else:
            out.append((section, prefix, value))

    for section in ("conversations", "ratings", "escalations", "referrals", "followups",
                    "hours", "retention"):
        walk(section, "", report[section])
    return out


def to_csv(table: Sequence[tuple[str, str, Cell]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["section", "figure", "value"])
    for section, name, value in table:
        # A leading = + - @ would be a formula in a spreadsheet: figures never start so.
        w.writerow([section, name, "" if value is None else value])
    return buf.getvalue()


def _xlsx_cell(ref: str, value: Cell) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value}</v></c>'
    text = "" if value is None else escape(str(value))
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def to_xlsx(table: Sequence[tuple[str, str, Cell]]) -> bytes:
    """A one-sheet Office Open XML workbook, written with zipfile (no dependency)."""
    lines = [("section", "figure", "value"), *table]
    sheet_rows = "".join(
        f'<row r="{i}">' + "".join(_xlsx_cell(f"{col}{i}", v)
                                   for col, v in zip("ABC", row, strict=True)) + "</row>"
        for i, row in enumerate(lines, start=1))
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package'
            '.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats'
            '-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
            ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="report" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{sheet_rows}</sheetData></worksheet>"),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


# ---- HTTP ----------------------------------------------------------------------------


async def _report(shifts_of: Callable[[], Any], request: Request) -> dict[str, Any]:
    shifts = shifts_of()
    node = shifts.node
    me = await staff_principal(node, request, "supervisor", "admin")
    tz = node.settings.tz
    now = node.now()
    first, last = parse_range(request.query_params, now.astimezone(tz).date())
    hours = await _hours(shifts, first, last)
    # Per-counselor ratings are for supervisors (quality of care), not for administrators.
    return await figures(node.services.pool, first, last, tz, hours, now,
                         per_counselor=str(me.role) == "supervisor")


async def _hours(shifts: Any, first: dt.date, last: dt.date) -> list[HourCoverage]:
    out: list[HourCoverage] = []
    day = first
    while day <= last:  # the roster answers at most 31 days at a time
        span = min(31, (last - day).days + 1)
        out.extend(await shifts.coverage(day, span))
        day += dt.timedelta(days=span)
    return out


def _filename(report: dict[str, Any], ext: str) -> str:
    return f"yizhan-report-{report['from']}-{report['to']}.{ext}"


async def report_json(shifts: Callable[[], Any], request: Request) -> Response:
    return JSONResponse(await _report(shifts, request))


async def report_csv(shifts: Callable[[], Any], request: Request) -> Response:
    report = await _report(shifts, request)
    return Response("\ufeff" + to_csv(rows(report)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="{_filename(report, "csv")}"'})


async def report_xlsx(shifts: Callable[[], Any], request: Request) -> Response:
    report = await _report(shifts, request)
    return Response(to_xlsx(rows(report)), media_type="application/vnd.openxmlformats-"
                    "officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition":
                             f'attachment; filename="{_filename(report, "xlsx")}"'})


def routes(shifts: Callable[[], Any]) -> list[BaseRoute]:
    """`shifts`: the node's roster service (roster/service.py), for hours of coverage."""
    return [
        Route("/api/reports", partial(report_json, shifts)),
        Route("/api/reports.csv", partial(report_csv, shifts)),
        Route("/api/reports.xlsx", partial(report_xlsx, shifts)),
    ]
