"""What a supervisor's board reads at a glance: seats, risk, ratings, referrals."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.staff_routes import staff_principal
from chat_server.chat.node import NodeRef
from chat_server.chat.routes import ChatRef, parse_uuid
from chat_server.crisis.board_store import BoardStore
from chat_server.crisis.levels import RiskLevel
from chat_server.problems import Problem

# A score at or below this stands out on the board.
LOW_SCORE = 2


async def board(chat: ChatRef, node_of: NodeRef, request: Request) -> Response:
    """Counselors on duty with their load, the queue, and active conversations by risk."""
    node = node_of()
    await staff_principal(node, request, "supervisor", "admin")
    seats = await node.queue.on_duty()
    store = BoardStore(node.services.pool)
    names = await store.display_names([s.staff_id for s in seats])
    risk = {level.name: 0 for level in RiskLevel}
    for level, n in await store.active_by_risk():
        risk[RiskLevel(min(level, 3)).name] += n
    return JSONResponse({
        "queue": await chat().waiting.queue_stats(),
        "counselors": [
            {"id": s.staff_id, "display_name": names.get(s.staff_id, ""), "load": s.load,
             "capacity": s.capacity, "draining": s.draining, "present": s.present}
            for s in seats
        ],
        "conversations_by_risk": risk,
    })


async def ratings(node_of: NodeRef, request: Request) -> Response:
    """Scores per counselor per ISO week; low scores counted apart so they stand out."""
    node = node_of()
    await staff_principal(node, request, "supervisor", "admin")
    try:
        weeks = int(request.query_params.get("weeks", "8"))
    except ValueError:
        raise Problem(400, "bad_field", "weeks must be a whole number", field="weeks") from None
    if not 1 <= weeks <= 52:
        raise Problem(400, "bad_field", "weeks must be from 1 to 52", field="weeks")
    rows = await BoardStore(node.services.pool).weekly_ratings(
        node.now() - dt.timedelta(weeks=weeks), node.settings.timezone, LOW_SCORE)
    people: dict[str, dict[str, Any]] = {}
    for r in rows:
        person = people.setdefault(r["id"], {"id": r["id"], "display_name": r["display_name"],
                                             "count": 0, "total": 0.0, "low": 0, "weeks": []})
        person["weeks"].append({"week": r["week"], "count": r["n"],
                                "average": round(r["average"], 2), "low": r["low"]})
        person["count"] += r["n"]
        person["total"] += r["average"] * r["n"]
        person["low"] += r["low"]
    out = []
    for person in people.values():
        total = person.pop("total")
        person["average"] = round(total / person["count"], 2) if person["count"] else None
        out.append(person)
    out.sort(key=lambda p: (p["average"] is None, p["average"] or 0))
    return JSONResponse({"weeks": weeks, "low_score": LOW_SCORE, "counselors": out})


async def escalation_referrals(node_of: NodeRef, request: Request) -> Response:
    """Referrals made for one escalation, so their status can be followed after a reload."""
    node = node_of()
    p = await staff_principal(node, request, "supervisor", "counselor")
    escalation_id = parse_uuid(request.path_params["escalation_id"])
    store = BoardStore(node.services.pool)
    found, counselor_id = await store.escalation_exists(escalation_id)
    if not found or (str(p.role) == "counselor" and counselor_id != p.id):
        raise Problem(404, "not_found", "no such escalation")
    rows = await store.escalation_referrals(escalation_id)
    return JSONResponse({"referrals": [
        {"id": r["id"], "status": r["status"], "created_at": r["created_at"].isoformat(),
         "resource": {"name": r["name"], "kind": r["kind"], "phone": r["phone"]}}
        for r in rows
    ]})


def routes(chat: ChatRef, node: NodeRef) -> list[BaseRoute]:
    return [
        Route("/api/supervisor/board", partial(board, chat, node)),
        Route("/api/supervisor/ratings", partial(ratings, node)),
        Route("/api/escalations/{escalation_id}/referrals", partial(escalation_referrals, node),
              methods=["GET"]),
    ]
