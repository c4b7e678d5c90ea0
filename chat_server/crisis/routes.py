"""The crisis path's HTTP routes: the supervisor board's lists, referrals, follow-ups."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.accounts.staff_routes import staff_principal
from chat_server.chat.connection import message_event
from chat_server.chat.hub import conversation_channel
from chat_server.chat.store import Conversation
from chat_server.crisis.referrals import KINDS, STATUSES, card_text, end_of_day, may_move
from chat_server.crisis.service import CrisisService
from chat_server.crisis.store import mark_followup_done
from chat_server.problems import Problem, check_origin, field_str, json_body, path_int
from chat_server.wire.commands import MAX_REASON
from chat_server.wire.protocol import Role


def _uuid(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise Problem(404, "not_found", f"no such {what}") from None


_STATUS_FILTERS = {"open": ("open",), "acknowledged": ("acknowledged",),
                   "resolved": ("resolved",), "active": ("open", "acknowledged"),
                   "all": ("open", "acknowledged", "resolved")}


async def _post_card(feature: CrisisService, conv: Conversation, p: Any,
                     resource: dict[str, Any], note: str) -> int:
    """The worker sees the referral as a card in the chat: a stored, encrypted message."""
    node = feature.node
    text = card_text(resource["name"], resource["phone"], resource["kind"], resource["hours"],
                     note)
    client_id = f"referral-{uuid.uuid4().hex[:16]}"
    result = await node.conversations.append(conv.id, "system", client_id, text,
                                             staff_id=p.id, kind="referral")
    if result.sealed is not None and result.wrapped is not None:
        await node.hub.publish(conversation_channel(conv.id), message_event(
            conv.id, result.seq, "system", client_id, "referral", result.at.isoformat(),
            result.sealed, result.wrapped))
    return result.seq

class CrisisRoutes:
    def __init__(self, service: Callable[[], CrisisService]) -> None:
        # The node's crisis service, made in the lifespan (routes are made before it).
        self.service = service

    async def _staff(self, request: Request, *roles: str) -> Any:
        node = self.service().node
        return await staff_principal(node, request, *roles)

    def _check_origin(self, request: Request) -> None:
        check_origin(request, self.service().node.settings.allowed_origins)

    async def list_escalations(self, request: Request) -> Response:
        p = await self._staff(request, "supervisor", "counselor")
        feature = self.service()
        wanted = request.query_params.get("status", "active")
        statuses = _STATUS_FILTERS.get(wanted)
        if statuses is None:
            raise Problem(400, "bad_field", "status must be one of " + ", ".join(_STATUS_FILTERS),
                          field="status")
        # Counselors see only escalations of conversations they serve.
        mine = p.id if p.role is Role.COUNSELOR else None
        rows = await feature.store.list(statuses, counselor_id=mine)
        return JSONResponse({"escalations": [e.view() for e in rows]})

    async def list_audit(self, request: Request) -> Response:
        await self._staff(request, "supervisor")
        conv = request.query_params.get("conversation_id")
        try:
            limit = min(500, max(1, int(request.query_params.get("limit", "100"))))
        except ValueError:
            raise Problem(400, "bad_field", "limit must be an integer", field="limit") from None
        rows = await self.service().store.audit_rows(
            _uuid(conv, "conversation") if conv else None, limit)
        return JSONResponse({"audit": rows})

    async def resources(self, request: Request) -> Response:
        feature = self.service()
        if request.method == "GET":
            await self._staff(request)
            return JSONResponse({"resources": await feature.store.resources()})
        self._check_origin(request)
        p = await self._staff(request, "supervisor", "admin")
        data = await json_body(request)
        name = field_str(data, "name", max_len=100) or ""
        phone = field_str(data, "phone", max_len=40) or ""
        kind = data.get("kind")
        if kind not in KINDS:
            raise Problem(400, "bad_field", "kind must be one of " + ", ".join(KINDS), field="kind")
        hours = field_str(data, "hours", max_len=100, required=False) or ""
        region = field_str(data, "region", max_len=100, required=False) or ""
        verify = data.get("verify_before_launch", True)
        if not isinstance(verify, bool):
            raise Problem(400, "bad_field", "verify_before_launch must be true or false",
                          field="verify_before_launch")
        row = await feature.store.add_resource(name, phone, str(kind), hours, region, verify,
                                              feature.node.now())
        await feature.store.audit(p.id, "referral_resource_added", feature.node.now(),
                                  detail={"resource_id": row["id"]})
        return JSONResponse(row, status_code=201)

    async def create_referral(self, request: Request) -> Response:
        self._check_origin(request)
        p = await self._staff(request, "supervisor", "counselor")
        feature = self.service()
        node = feature.node
        esc = await feature.store.get(_uuid(request.path_params["escalation_id"], "escalation"))
        if esc is None or (p.role is Role.COUNSELOR and esc.counselor_id != p.id):
            raise Problem(404, "not_found", "no such escalation")
        data = await json_body(request)
        resource_id = _uuid(field_str(data, "resource_id", max_len=64) or "", "resource")
        note = field_str(data, "note", max_len=MAX_REASON, required=False) or ""
        resource = await feature.store.resource(resource_id)
        if resource is None or resource["disabled"]:
            raise Problem(404, "not_found", "no such resource")
        conv = await node.conversations.get(esc.conversation_id)
        seq = None
        if conv is not None and conv.status == "active":
            seq = await _post_card(feature, conv, p, resource, note)
        referral = await feature.store.create_referral(esc, resource_id, p.id, seq, node.now())
        return JSONResponse(referral, status_code=201)

    async def referral_status(self, request: Request) -> Response:
        self._check_origin(request)
        p = await self._staff(request, "supervisor", "counselor")
        feature = self.service()
        rid = _uuid(request.path_params["referral_id"], "referral")
        current = await feature.store.referral(rid)
        if current is None or (p.role is Role.COUNSELOR and current["counselor_id"] != p.id):
            raise Problem(404, "not_found", "no such referral")
        data = await json_body(request)
        new = data.get("status")
        if new not in STATUSES or new == "proposed":
            raise Problem(400, "bad_field", "status must be accepted, declined, contacted or"
                          " completed", field="status")
        if not may_move(current["status"], str(new)):
            raise Problem(409, "conflict", f"a {current['status']} referral cannot become {new}",
                          status_now=current["status"])
        moved = await feature.store.move_referral(rid, current["status"], str(new), p.id,
                                                  feature.node.now())
        if moved is None:
            raise Problem(409, "conflict", "the referral changed meanwhile; reload")
        return JSONResponse(moved)

    async def list_followups(self, request: Request) -> Response:
        await self._staff(request, "supervisor")
        feature = self.service()
        node = feature.node
        due = request.query_params.get("due", "today")
        if due == "today":
            before = end_of_day(node.now(), node.settings.tz)
        elif due == "overdue":
            before = node.now()
        elif due == "all":
            before = node.now().replace(year=9999)
        else:
            raise Problem(400, "bad_field", "due must be today, overdue or all", field="due")
        return JSONResponse({"followups": await feature.store.followups_due(before)})

    async def followup_done(self, request: Request) -> Response:
        self._check_origin(request)
        p = await self._staff(request, "supervisor")
        feature = self.service()
        followup_id = path_int(request, "followup_id", "follow-up")
        if not await mark_followup_done(feature.node.services.pool, followup_id, p.id,
                                        feature.node.now()):
            raise Problem(404, "not_found", "no such open follow-up")
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/supervisor/followups/{followup_id}/done", self.followup_done,
                  methods=["POST"]),
            Route("/api/supervisor/escalations", self.list_escalations),
            Route("/api/supervisor/audit", self.list_audit),
            Route("/api/supervisor/followups", self.list_followups),
            Route("/api/referrals/resources", self.resources, methods=["GET", "POST"]),
            Route("/api/escalations/{escalation_id}/referrals", self.create_referral,
                  methods=["POST"]),
            Route("/api/referrals/{referral_id}/status", self.referral_status, methods=["POST"]),
        ]
