"""The self-help library: items with topic and suitability tags, edited by admins.

Media are referenced by URL, never bundled. Items are recommended by assessment results
(their `suitable` tags, e.g. "phq9:mild" or "mild") and by counselors at the end of a chat.
"""

from __future__ import annotations

import builtins
import re
import uuid
from functools import partial
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.possession import may_read
from chat_server.clock import Clock
from chat_server.problems import Problem, check_origin, field_str, json_body
from chat_server.selfservice.service import (
    SelfServiceRef,
    iso,
    parse_id,
    staff_of,
    worker_of,
)

KINDS = ("exercise", "music", "film", "ebook", "course", "article")
MAX_TAGS = 20
_TAG = re.compile(r"^[a-z0-9_:\-\u4e00-\u9fff]{1,32}$")
# A URL the page may link to: one of ours (a path) or an https address.
_URL = re.compile(r"^(/[A-Za-z0-9._~/\-]*|https://[^\s<>\"']{1,300})$")

_BANDS_LOW = ["minimal", "mild", "low", "moderate"]
# The starting set the project wrote itself (web_client/selfhelp/).
SEED: list[dict[str, Any]] = [
    {"slug": "breathing", "kind": "exercise", "title": "4-6 呼吸：让身体慢下来",
     "title_en": "4-6 breathing: slowing the body down",
     "summary": "三分钟。吸气四拍，呼气六拍，紧张和心慌时都可以做。",
     "url": "/selfhelp/breathing.html", "topics": ["anxiety", "stress", "sleep"],
     "suitable": [*_BANDS_LOW, "moderately_severe", "severe", "high"]},
    {"slug": "grounding", "kind": "exercise", "title": "5-4-3-2-1 着陆练习",
     "title_en": "5-4-3-2-1 grounding",
     "summary": "用五种感官把注意力带回此刻，情绪翻涌时用。",
     "url": "/selfhelp/grounding.html", "topics": ["anxiety", "panic", "low_mood"],
     "suitable": [*_BANDS_LOW, "moderately_severe", "severe", "high"]},
    {"slug": "muscle", "kind": "exercise", "title": "渐进式肌肉放松",
     "title_en": "Progressive muscle relaxation",
     "summary": "十分钟，从脚到头一组组收紧再放松，下班后或睡前做。",
     "url": "/selfhelp/muscle.html", "topics": ["stress", "sleep", "work"],
     "suitable": [*_BANDS_LOW, "high"]},
]


def _view(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(r["id"]), "kind": r["kind"], "title": r["title"],
            "title_en": r["title_en"], "summary": r["summary"], "url": r["url"],
            "topics": list(r["topics"]), "suitable": list(r["suitable"]),
            "disabled": r["disabled"], "updated_at": iso(r["updated_at"])}


class LibraryStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock  # the node's clock

    async def seed(self, items: builtins.list[dict[str, Any]]) -> None:
        """Add the starting set once (by slug); an admin's edits are never overwritten."""
        now = self.clock()
        for it in items:
            await self.pool.execute(
                "INSERT INTO library_items (slug, kind, title, title_en, summary, url, topics,"
                " suitable, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                " $9, $9) ON CONFLICT (slug) DO NOTHING",
                it["slug"], it["kind"], it["title"], it["title_en"], it["summary"], it["url"],
                it["topics"], it["suitable"], now)

    async def list(self, *, include_disabled: bool = False) -> builtins.list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM library_items WHERE $1 OR NOT disabled ORDER BY kind, created_at",
            include_disabled)
        return [_view(r) for r in rows]

    async def recommended(
        self, tags: builtins.list[str], limit: int = 6
    ) -> builtins.list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM library_items WHERE NOT disabled AND suitable && $1::text[]"
            " ORDER BY kind = 'exercise' DESC, created_at LIMIT $2", tags, limit)
        return [_view(r) for r in rows]

    async def save(self, item_id: uuid.UUID | None, f: dict[str, Any]) -> dict[str, Any] | None:
        now = self.clock()
        if item_id is None:
            row = await self.pool.fetchrow(
                "INSERT INTO library_items (kind, title, title_en, summary, url, topics,"
                " suitable, disabled, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING *",
                f["kind"], f["title"], f["title_en"], f["summary"], f["url"], f["topics"],
                f["suitable"], f["disabled"], now)
        else:
            row = await self.pool.fetchrow(
                "UPDATE library_items SET kind = $2, title = $3, title_en = $4, summary = $5,"
                " url = $6, topics = $7, suitable = $8, disabled = $9, updated_at = $10"
                " WHERE id = $1 RETURNING *",
                item_id, f["kind"], f["title"], f["title_en"], f["summary"], f["url"],
                f["topics"], f["suitable"], f["disabled"], now)
        return _view(row) if row else None

    async def recommend(self, conversation_id: str, item_ids: builtins.list[uuid.UUID],
                        staff_id: str) -> int:
        done = await self.pool.fetch(
            "INSERT INTO library_recommendations (conversation_id, item_id, staff_id, at)"
            " SELECT $1, i.id, $3, $4 FROM library_items i"
            " WHERE i.id = ANY($2::uuid[]) AND NOT i.disabled"
            " ON CONFLICT DO NOTHING RETURNING item_id",
            uuid.UUID(conversation_id), item_ids, uuid.UUID(staff_id), self.clock())
        return len(done)

    async def recommended_to(self, p: Any) -> builtins.list[dict[str, Any]]:
        """Items counselors recommended in chats this session may read, newest first."""
        rows = await self.pool.fetch(
            "SELECT i.*, c.opened_by_session, c.opened_by_device, r.at AS recommended_at,"
            " s.display_name"
            " FROM library_recommendations r JOIN conversations c ON c.id = r.conversation_id"
            " JOIN library_items i ON i.id = r.item_id JOIN staff s ON s.id = r.staff_id"
            " WHERE c.worker_id = $1 AND NOT i.disabled ORDER BY r.at DESC LIMIT 50",
            uuid.UUID(p.id))
        out = []
        for r in rows:
            # The conversation's own possession factors (conversations.may_read's rule).
            if may_read(p, r["opened_by_session"], r["opened_by_device"]):
                out.append({**_view(r), "recommended_at": iso(r["recommended_at"]),
                            "counselor": r["display_name"]})
        return out


def _tags(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or len(value) > MAX_TAGS or not all(
            isinstance(t, str) and _TAG.match(t) for t in value):
        raise Problem(400, "bad_field", f"{name} must be up to {MAX_TAGS} short tags",
                      field=name)
    return list(dict.fromkeys(value))


def item_fields(data: dict[str, Any]) -> dict[str, Any]:
    kind = data.get("kind")
    if kind not in KINDS:
        raise Problem(400, "bad_field", "kind must be one of " + ", ".join(KINDS), field="kind")
    url = field_str(data, "url", max_len=300) or ""
    if not _URL.match(url):
        raise Problem(400, "bad_field", "url must be a path of this site or an https address",
                      field="url")
    disabled = data.get("disabled", False)
    if not isinstance(disabled, bool):
        raise Problem(400, "bad_field", "disabled must be true or false", field="disabled")
    return {"kind": kind, "title": field_str(data, "title", max_len=100),
            "title_en": field_str(data, "title_en", max_len=100, required=False) or "",
            "summary": field_str(data, "summary", max_len=500, required=False) or "",
            "url": url, "topics": _tags(data, "topics"), "suitable": _tags(data, "suitable"),
            "disabled": disabled}


# ---- HTTP -----------------------------------------------------------------------------


async def library_route(runtime: SelfServiceRef, request: Request) -> Response:
    """Public: the enabled items, optionally only those suiting `suits` (comma-separated)."""
    rt = runtime()
    suits = [t for t in request.query_params.get("suits", "").split(",") if t][:MAX_TAGS]
    items = await (rt.library.recommended(suits, 50) if suits else rt.library.list())
    return JSONResponse({"items": items})


async def admin_library_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    await staff_of(rt, request, "admin")
    if request.method == "GET":
        return JSONResponse({"items": await rt.library.list(include_disabled=True)})
    check_origin(request, rt.node.settings.allowed_origins)
    item = await rt.library.save(None, item_fields(await json_body(request)))
    return JSONResponse(item, status_code=201)


async def admin_item_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    await staff_of(rt, request, "admin")
    check_origin(request, rt.node.settings.allowed_origins)
    item_id = parse_id(request.path_params["item_id"], "item")
    item = await rt.library.save(item_id, item_fields(await json_body(request)))
    if item is None:
        raise Problem(404, "not_found", "no such item")
    return JSONResponse(item)


async def recommend_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await staff_of(rt, request, "counselor")
    check_origin(request, rt.node.settings.allowed_origins)
    conv = await rt.node.conversations.get(
        str(parse_id(request.path_params["conversation_id"], "conversation")))
    if conv is None or conv.counselor_id != p.id:
        raise Problem(404, "not_found", "no such conversation")
    data = await json_body(request)
    raw = data.get("item_ids")
    if not isinstance(raw, list) or not 0 < len(raw) <= 10:
        raise Problem(400, "bad_field", "item_ids must list 1 to 10 items", field="item_ids")
    ids = []
    for x in raw:
        try:
            ids.append(uuid.UUID(str(x)))
        except ValueError:
            raise Problem(400, "bad_field", "item_ids must be item ids",
                          field="item_ids") from None
    added = await rt.library.recommend(conv.id, ids, p.id)
    return JSONResponse({"conversation_id": conv.id, "added": added}, status_code=201)


async def worker_recommendations_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    return JSONResponse({"items": await rt.library.recommended_to(p)})


def routes(runtime: SelfServiceRef) -> list[BaseRoute]:
    return [
        Route("/api/library", partial(library_route, runtime)),
        Route("/api/admin/library", partial(admin_library_route, runtime), methods=["GET", "POST"]),
        Route("/api/admin/library/{item_id}", partial(admin_item_route, runtime), methods=["PUT"]),
        Route("/api/staff/conversations/{conversation_id}/recommendations",
              partial(recommend_route, runtime), methods=["POST"]),
        Route("/api/worker/recommendations", partial(worker_recommendations_route, runtime)),
    ]
