"""Self-assessments: PHQ-9, GAD-7, PSS-10; sealed results, the trend, sharing, the crisis path.

Results are sealed under a data key of their own (crypto/ envelope through the Vault) and
read only by a session that `possession.may_read` passes. A PHQ-9 with item 9 above
"not at all" shows the hotlines at once and gives the worker's next chat request (or the
one already waiting) the crisis band and an escalation, as the pre-chat screen does.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_queue.matching import Band
from chat_server.accounts.possession import may_read, own_device
from chat_server.accounts.sessions import Principal
from chat_server.chat.store import Conversation
from chat_server.chat.store import may_read as may_read_conversation
from chat_server.clock import Clock
from chat_server.crisis.escalation import Source
from chat_server.crisis.hotlines import HOTLINES
from chat_server.crisis.levels import RiskLevel
from chat_server.problems import Problem, check_origin, json_body
from chat_server.selfservice.scales import SCALES, Result, ScaleError, score, suitability_tags
from chat_server.selfservice.service import (
    SelfService,
    SelfServiceRef,
    limit_writes,
    parse_id,
    staff_of,
    worker_of,
)
from chat_server.wire.protocol import Role
from crypto.envelope import Aad, Sealed, Vault
from crypto.keyring import WrappedKey

if TYPE_CHECKING:
    from chat_server.chat.connection import Connection

log = logging.getLogger("yizhan.assessments")

# A positive item 9 gives the next chat request priority for this long.
PRIORITY_FOR = dt.timedelta(hours=6)
HISTORY_LIMIT = 100
REASON = "assessment_phq9_item9"


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    scale: str
    score: int
    band: str
    answers: tuple[int, ...]
    share_next: bool
    created_at: dt.datetime

    def view(self, *, answers: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "scale": self.scale, "score": self.score,
                               "band": self.band, "max_score": SCALES[self.scale].max_score,
                               "share_next": self.share_next,
                               "created_at": self.created_at.isoformat()}
        if answers:
            out["answers"] = list(self.answers)
        return out


def _aad(assessment_id: str) -> Aad:
    return Aad(assessment_id, 0, "worker", 1, "assessment")


class AssessmentStore:
    def __init__(self, pool: asyncpg.Pool, vault: Vault, clock: Clock) -> None:
        self.pool = pool
        self.vault = vault
        self.clock = clock  # the node's clock

    async def add(self, p: Principal, result: Result) -> Stored:
        """Seal and store a result; count its band anonymously for reports; a positive
        item 9 leaves a priority mark for the next chat request."""
        now = self.clock()
        aid = str(uuid.uuid4())
        wrapped = self.vault.new_conversation_key()
        body = json.dumps({"answers": list(result.answers), "score": result.score,
                           "band": result.band}).encode()
        sealed = self.vault.encrypt(wrapped, body, _aad(aid))
        day = now.astimezone(dt.UTC).date()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO assessments (id, worker_id, owner_session, owner_device, scale,"
                " kek_version, wrapped_key, nonce, ciphertext, created_at)"
                " VALUES ($1, $2, $3, $10, $4, $5, $6, $7, $8, $9)",
                uuid.UUID(aid), uuid.UUID(p.id), p.token_hash, result.scale,
                wrapped.kek_version, wrapped.wrapped, sealed.nonce, sealed.ciphertext, now,
                own_device(p))
            await conn.execute(
                "INSERT INTO assessment_counts (day, scale, band, n) VALUES ($1, $2, $3, 1)"
                " ON CONFLICT (day, scale, band) DO UPDATE SET n = assessment_counts.n + 1",
                day, result.scale, result.band)
            if result.self_harm:
                await conn.execute(
                    "INSERT INTO assessment_priority (assessment_id, worker_id, owner_session,"
                    " owner_device, until, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    uuid.UUID(aid), uuid.UUID(p.id), p.token_hash, own_device(p),
                    now + PRIORITY_FOR, now)
        return Stored(aid, result.scale, result.score, result.band, result.answers, False, now)

    def _open(self, row: asyncpg.Record) -> Stored:
        aid = str(row["id"])
        wrapped = WrappedKey(row["kek_version"], row["wrapped_key"])
        data = json.loads(self.vault.decrypt(wrapped, Sealed(row["nonce"], row["ciphertext"]),
                                             _aad(aid)))
        return Stored(aid, row["scale"], int(data["score"]), str(data["band"]),
                      tuple(data["answers"]), row["share_next"], row["created_at"])

    async def _rows(self, worker_id: str) -> list[asyncpg.Record]:
        return list(await self.pool.fetch(
            "SELECT * FROM assessments WHERE worker_id = $1"
            " ORDER BY created_at DESC, n DESC LIMIT $2",
            uuid.UUID(worker_id), HISTORY_LIMIT))

    async def readable(self, p: Principal) -> list[Stored]:
        """This worker's results this session may read, newest first."""
        return [self._open(r) for r in await self._rows(p.id)
                if may_read(p, r["owner_session"], r["owner_device"])]

    async def get(self, p: Principal, assessment_id: uuid.UUID) -> Stored | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM assessments WHERE id = $1 AND worker_id = $2",
            assessment_id, uuid.UUID(p.id))
        if row is None or not may_read(p, row["owner_session"], row["owner_device"]):
            return None
        return self._open(row)

    async def set_share(self, p: Principal, assessment_id: uuid.UUID, share: bool) -> bool:
        if await self.get(p, assessment_id) is None:
            return False
        await self.pool.execute("UPDATE assessments SET share_next = $2 WHERE id = $1",
                                assessment_id, share)
        return True

    async def session_of(self, conv: Conversation) -> Principal | None:
        """The session that opened a conversation, with the devices it held, as the
        predicate sees it (its own device at least, if the session row is gone)."""
        if conv.opened_by_session is None:
            return None
        held = await self.pool.fetchval("SELECT devices FROM sessions WHERE token_hash = $1",
                                        bytes(conv.opened_by_session))
        devices = tuple(bytes(d) for d in held) if held else (
            (bytes(conv.opened_by_device),) if conv.opened_by_device else ())
        return Principal(id=conv.worker_id, role=Role.WORKER,
                         token_hash=bytes(conv.opened_by_session), name="", devices=devices)

    async def shared_with(self, conv: Conversation) -> list[Stored]:
        """Results the worker chose to show the counselor of this chat: marked before the
        match, and readable by the session that opened the chat."""
        opener = await self.session_of(conv)
        if opener is None:
            return []
        cutoff = conv.matched_at or self.clock()
        return [s for s in await self.readable(opener)
                if s.share_next and s.created_at <= cutoff]

    async def claim_priority(self, p: Principal, conversation_id: str) -> bool:
        """Use a live priority mark this session may read for this conversation, once."""
        rows = await self.pool.fetch(
            "SELECT assessment_id, owner_session, owner_device FROM assessment_priority"
            " WHERE worker_id = $1 AND until > $2 AND used_by_conversation IS NULL",
            uuid.UUID(p.id), self.clock())
        ids = [r["assessment_id"] for r in rows
               if may_read(p, r["owner_session"], r["owner_device"])]
        if not ids:
            return False
        used: str = await self.pool.execute(
            "UPDATE assessment_priority SET used_by_conversation = $2"
            " WHERE assessment_id = ANY($1::uuid[]) AND used_by_conversation IS NULL",
            ids, uuid.UUID(conversation_id))
        return used != "UPDATE 0"


# ---- the crisis path ------------------------------------------------------------------


async def give_priority(rt: SelfService, conv: Conversation) -> None:
    """What the pre-chat screen does for item 9: crisis band, escalation, hotlines."""
    node = rt.node
    await node.queue.raise_band(conv.id, Band.CRISIS)
    await node.services.pool.execute("UPDATE conversations SET band = 0 WHERE id = $1",
                                     uuid.UUID(conv.id))
    await rt.crisis.escalate(conv, RiskLevel.high, Source.SCREEN, (REASON,))
    await rt.crisis.hotlines(conv)
    rt.wake.kick()


async def on_chat_requested(rt: SelfService, conn: Connection, conv: Conversation) -> None:
    if await rt.assessments.claim_priority(conn.principal, conv.id):
        await give_priority(rt, conv)


async def _now_open(rt: SelfService, p: Principal) -> None:
    """Item 9 while waiting for, or in, a chat this session may access: act now (an active
    chat's counselor and the supervisors hear of it through the escalation)."""
    # Only a conversation this session holds a possession factor of (the store asks the
    # same question as conversations.may_read, in SQL).
    conv = await rt.node.conversations.open_for_session(p.id, p.token_hash, p.devices)
    if conv is None or conv.status not in ("waiting", "active"):
        return
    if not may_read_conversation(p, conv):
        return
    if await rt.assessments.claim_priority(p, conv.id):
        await give_priority(rt, conv)


# ---- HTTP -----------------------------------------------------------------------------


async def scales_route(request: Request) -> Response:
    """Public: the questionnaires themselves (no answers, nothing about anyone)."""
    return JSONResponse({"scales": [s.view() for s in SCALES.values()]})


async def assessments_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    if request.method == "GET":
        items = await rt.assessments.readable(p)
        return JSONResponse({"assessments": [s.view() for s in items]})
    check_origin(request, rt.node.settings.allowed_origins)
    await limit_writes(rt, p, "assessment")
    data = await json_body(request)
    scale = SCALES.get(str(data.get("scale")))
    if scale is None:
        raise Problem(400, "bad_field", "scale must be one of " + ", ".join(SCALES),
                      field="scale")
    try:
        result = score(scale, data.get("answers"))
    except ScaleError as exc:
        raise Problem(400, "bad_field", str(exc), field="answers") from None
    stored = await rt.assessments.add(p, result)
    if result.self_harm:
        log.warning("assessment item 9 positive", extra={"fields": {"assessment_id": stored.id}})
        await _now_open(rt, p)
    recommended = await rt.library.recommended(suitability_tags(result))
    body = {**stored.view(), "self_harm": result.self_harm,
            "hotlines": HOTLINES if result.self_harm else [],
            "recommended": recommended}
    return JSONResponse(body, status_code=201)


async def assessment_route(runtime: SelfServiceRef, request: Request) -> Response:
    rt = runtime()
    p = await worker_of(rt, request)
    aid = parse_id(request.path_params["assessment_id"], "assessment")
    stored = await rt.assessments.get(p, aid)
    if stored is None:
        raise Problem(404, "not_found", "no such assessment")
    if request.method == "GET":
        return JSONResponse(stored.view(answers=True))
    check_origin(request, rt.node.settings.allowed_origins)
    data = await json_body(request)
    share = data.get("share_next")
    if not isinstance(share, bool):
        raise Problem(400, "bad_field", "share_next must be true or false", field="share_next")
    await rt.assessments.set_share(p, aid, share)
    return JSONResponse({**stored.view(), "share_next": share})


async def shared_route(runtime: SelfServiceRef, request: Request) -> Response:
    """The counselor of a conversation reads what its worker chose to share (audited)."""
    rt = runtime()
    p = await staff_of(rt, request, "counselor")
    conv = await rt.node.conversations.get(
        str(parse_id(request.path_params["conversation_id"], "conversation")))
    if conv is None or conv.counselor_id != p.id:
        raise Problem(404, "not_found", "no such conversation")
    shared = await rt.assessments.shared_with(conv)
    if shared:
        await rt.node.services.pool.execute(
            "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at)"
            " VALUES ($1, 'read_assessment', $2, 'shared by the worker', $3)",
            uuid.UUID(p.id), uuid.UUID(conv.id), rt.node.now())
    return JSONResponse({"assessments": [s.view(answers=True) for s in shared]})


def routes(runtime: SelfServiceRef) -> list[BaseRoute]:
    return [
        Route("/api/assessments/scales", scales_route),
        Route("/api/worker/assessments", partial(assessments_route, runtime),
              methods=["GET", "POST"]),
        Route("/api/worker/assessments/{assessment_id}", partial(assessment_route, runtime),
              methods=["GET", "PUT"]),
        Route("/api/staff/conversations/{conversation_id}/assessments",
              partial(shared_route, runtime)),
    ]



