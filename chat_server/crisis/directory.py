"""The referral directory's editor: local resources with hours, region and the date each
was last verified. A number nobody has rung for 90 days may be dead when a worker in
crisis needs it, so such entries are flagged to supervisors until someone checks them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.staff_routes import staff_principal
from chat_server.chat.node import NodeRef
from chat_server.crisis.directory_store import DirectoryStore
from chat_server.crisis.referrals import KINDS
from chat_server.problems import Problem, check_origin, field_str, json_body

STALE_AFTER = dt.timedelta(days=90)
EDITORS = ("supervisor", "admin")


def entry_json(r: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
    verified = r["last_verified_at"]
    return {
        "id": str(r["id"]), "name": r["name"], "phone": r["phone"], "kind": r["kind"],
        "hours": r["hours"], "region": r["region"],
        "verify_before_launch": r["verify_before_launch"],
        "disabled": r["disabled_at"] is not None,
        "last_verified_at": verified.isoformat() if verified else None,
        # Never verified counts as stale: the seed numbers say "verify before launch".
        "stale": r["disabled_at"] is None and (verified is None
                                               or verified < now - STALE_AFTER),
    }


def _fields(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, limit in (("name", 100), ("phone", 40), ("hours", 100), ("region", 100)):
        if name in data or (not partial and name in ("name", "phone")):
            required = name in ("name", "phone")
            out[name] = (field_str(data, name, max_len=limit, required=required) or "").strip()
    if "kind" in data or not partial:
        if data.get("kind") not in KINDS:
            raise Problem(400, "bad_field", "kind must be one of " + ", ".join(KINDS),
                          field="kind")
        out["kind"] = data["kind"]
    if "disabled" in data:
        if not isinstance(data["disabled"], bool):
            raise Problem(400, "bad_field", "disabled must be true or false", field="disabled")
        out["disabled"] = data["disabled"]
    return out


def _rid(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["resource_id"])
    except ValueError:
        raise Problem(404, "not_found", "no such directory entry") from None


async def directory(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    now = node.now()
    store = DirectoryStore(node.services.pool)
    if request.method == "GET":
        await staff_principal(node, request, *EDITORS)
        entries = [entry_json(r, now) for r in await store.entries()]
        # Stale first: the work to do is at the top.
        entries.sort(key=lambda e: (e["disabled"], not e["stale"]))
        return JSONResponse({"resources": entries, "stale_after_days": STALE_AFTER.days,
                             "stale": sum(e["stale"] for e in entries)})
    check_origin(request, node.settings.allowed_origins)
    me = await staff_principal(node, request, *EDITORS)
    f = _fields(await json_body(request), partial=False)
    row = await store.add(f, me.id, now)
    return JSONResponse(entry_json(row, now), status_code=201)


async def directory_entry(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    me = await staff_principal(node, request, *EDITORS)
    rid = _rid(request)
    f = _fields(await json_body(request), partial=True)
    if not f:
        raise Problem(400, "bad_field", "nothing to change")
    now = node.now()
    row = await DirectoryStore(node.services.pool).edit(rid, f, me.id, now)
    if row is None:
        raise Problem(404, "not_found", "no such directory entry")
    return JSONResponse(entry_json(row, now))


async def directory_verified(node_of: NodeRef, request: Request) -> Response:
    """Someone rang the number and checked the hours today."""
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    me = await staff_principal(node, request, *EDITORS)
    now = node.now()
    row = await DirectoryStore(node.services.pool).verified(_rid(request), me.id, now)
    if row is None:
        raise Problem(404, "not_found", "no such directory entry")
    return JSONResponse(entry_json(row, now))


def routes(node: NodeRef) -> list[BaseRoute]:
    """`node`: the running node (made in the lifespan, after the routes)."""
    return [
        Route("/api/directory", partial(directory, node), methods=["GET", "POST"]),
        Route("/api/directory/{resource_id}", partial(directory_entry, node),
              methods=["PATCH"]),
        Route("/api/directory/{resource_id}/verified", partial(directory_verified, node),
              methods=["POST"]),
    ]
