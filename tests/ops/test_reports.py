"""Reports: every figure of a seeded month; small cells as "<5"; CSV and XLSX agree."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from xml.etree import ElementTree

from chat_server.ops import reports
from tests.clients import make_staff
from tests.report_seed import EXPECTED, PER_COUNSELOR, SH, flat, seed

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def xlsx_rows(data: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    out = []
    for row in sheet.iter(NS + "row"):
        cells = []
        for c in row.iter(NS + "c"):
            v = c.find(NS + "v")
            cells.append(v.text if v is not None else "".join(c.itertext()))
        out.append(cells)
    return out


def test_small_counts_and_percentiles_are_withheld() -> None:
    assert [reports.cell(n) for n in (0, 1, 4, 5)] == [0, "<5", "<5", 5]
    assert reports.percentile([1, 2, 3, 4], 0.5) is None
    assert reports.percentile([1, 2, 3, 4, 5], 0.5) == 3


async def test_a_seeded_month_gives_every_figure(node_factory) -> None:
    node = await node_factory(open_time=dt.time(10, 0))
    node.node.clock = lambda: dt.datetime(2026, 12, 3, 12, 0, tzinfo=SH)
    sup = await make_staff(node, "supervisor")
    admin = await make_staff(node, "admin")
    a = await make_staff(node, "counselor")
    b = await make_staff(node, "counselor")
    await seed(node.node.services.pool, a.id, b.id, sup.id)
    r = await sup.http.get("/api/reports", params={"month": "2026-11"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert flat(report) == EXPECTED
    per = {p["counselor"]: (p["count"], p["mean"]) for p in report["ratings"]["per_counselor"]}
    assert per == PER_COUNSELOR
    daily = {d["date"]: d["count"] for d in report["conversations"]["daily"]}
    assert len(daily) == 30 and daily["2026-11-10"] == 12 and daily["2026-11-11"] == 0
    # Admins get the same figures without the per-counselor ratings.
    mine = (await admin.http.get("/api/reports", params={"month": "2026-11"})).json()
    assert "per_counselor" not in mine["ratings"] and flat(mine) == EXPECTED
    # A range that leaves out the 10th counts nothing of the seed.
    other = (await sup.http.get("/api/reports", params={"from": "2026-11-11",
                                                         "to": "2026-11-30"})).json()
    assert other["conversations"]["total"] == 0
    # The exports hold the same table.
    text = (await sup.http.get("/api/reports.csv", params={"month": "2026-11"})).text
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    xlsx = await sup.http.get("/api/reports.xlsx", params={"month": "2026-11"})
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert xlsx_rows(xlsx.content) == table
    by_name = {f"{s}.{n}": v for s, n, v in table[1:]}
    for key, value in EXPECTED.items():
        assert by_name[key] == str(value), key
    bad = await sup.http.get("/api/reports", params={"from": "2026-11-30", "to": "2026-11-01"})
    assert bad.status_code == 400
    for c in (sup, admin, a, b):
        await c.close()
