"""HTTP API for staff: sign-in, profile, sign-out, transcripts, case notes."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_queue import keys
from chat_server import metrics
from chat_server.accounts.second_factor import second_factor
from chat_server.accounts.sessions import STAFF_COOKIE, BadCredentials, Principal
from chat_server.accounts.staff_routes import accounts_of, staff_principal
from chat_server.accounts.throttle import scope_key
from chat_server.chat.node import Node, NodeRef
from chat_server.chat.routes import (
    ChatRef,
    client_ip,
    delete_cookie,
    parse_uuid,
    rate_limit,
    revoke_and_disconnect,
    set_session_cookie,
    slowed,
    throttle_of,
)
from chat_server.crisis.levels import RiskLevel
from chat_server.problems import (
    Problem,
    check_origin,
    field_str,
    json_body,
    query_int,
)
from chat_server.vault import open_text, seal_text

MAX_NOTE = 8000


def staff_body(p: Principal) -> dict[str, Any]:
    return {"id": p.id, "display_name": p.name, "role": str(p.role), "capacity": p.capacity,
            "username": p.username}


async def staff_sign_in(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    data = await json_body(request)
    username = field_str(data, "username", max_len=64)
    password = field_str(data, "password", max_len=1024)
    await rate_limit(node, keys.staff_signin_rate_scope(client_ip(request)),
                     node.settings.signin_per_minute_per_ip, 60)
    # Password guessing is slowed per account name, from any address; known and unknown
    # names alike, so the answers do not tell which names exist.
    slow_keys = [scope_key("staff", (username or "").casefold())]
    await slowed(node, slow_keys)
    try:
        token, p = await node.sessions.staff_sign_in(
            username or "", password or "", ttl_s=node.settings.session_ttl_s,
            second_factor=second_factor(accounts_of(node), node.services.redis, data))
    except BadCredentials:
        metrics.SIGNINS.labels(kind="staff", outcome="bad_credentials").inc()
        await throttle_of(node).failed(slow_keys, node.now_ms())
        raise Problem(401, "bad_credentials", "wrong name or password") from None
    await throttle_of(node).forget(slow_keys)
    metrics.SIGNINS.labels(kind="staff", outcome="ok").inc()
    response = JSONResponse(staff_body(p), status_code=201)
    set_session_cookie(node, request, response, STAFF_COOKIE, token, node.settings.session_ttl_s)
    return response


async def staff_me(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    p = await staff_principal(node, request)
    if request.method == "PUT":
        check_origin(request, node.settings.allowed_origins)
        data = await json_body(request)
        name = field_str(data, "display_name", max_len=32)
        await node.services.pool.execute(
            "UPDATE staff SET display_name = $2 WHERE id = $1", uuid.UUID(p.id), name)
        p = await node.sessions.lookup_hash(p.token_hash) or p
    return JSONResponse(staff_body(p))


async def staff_sign_out(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    p = await staff_principal(node, request)
    await revoke_and_disconnect(node, p)
    response = Response(status_code=204)
    delete_cookie(node, request, response, STAFF_COOKIE)
    return response


async def counselor_conversation(node: Node, request: Request, p: Principal) -> str:
    """The conversation id if this counselor served it (404 otherwise)."""
    conv = await node.conversations.get(parse_uuid(request.path_params["conversation_id"]))
    if conv is None or conv.counselor_id != p.id:
        raise Problem(404, "not_found", "no such conversation")
    return conv.id


async def staff_messages(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    p = await staff_principal(node, request, "counselor")
    conv_id = await counselor_conversation(node, request, p)
    after = query_int(request, "after", 0, low=0, high=2**62)
    messages = await node.conversations.messages_after(conv_id, after)
    await node.services.pool.execute(
        "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at)"
        " VALUES ($1, 'read_transcript', $2, 'own conversation (http)', $3)",
        uuid.UUID(p.id), uuid.UUID(conv_id), node.now())
    return JSONResponse({"messages": [m.frame() for m in messages]})


async def staff_note(chat: ChatRef, node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    p = await staff_principal(node, request, "counselor")
    conv_id = await counselor_conversation(node, request, p)
    pool = node.services.pool
    wrapped = await node.conversations.wrapped_key(conv_id)
    if request.method == "GET":
        row = await pool.fetchrow(
            "SELECT topics, risk_level, note_nonce, note_ciphertext, updated_at FROM case_notes"
            " WHERE conversation_id = $1", uuid.UUID(conv_id))
        if row is None:
            raise Problem(404, "not_found", "no note yet")
        text = ""
        if row["note_ciphertext"] is not None and wrapped is not None:
            text = open_text(node.vault, wrapped, conv_id, 0, "counselor", row["note_nonce"],
                             row["note_ciphertext"], "case_note")
        await pool.execute(
            "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at)"
            " VALUES ($1, 'read_case_note', $2, 'own case note', $3)", uuid.UUID(p.id),
            uuid.UUID(conv_id), node.now())
        return JSONResponse({"conversation_id": conv_id, "topics": row["topics"],
                             "risk_level": RiskLevel(row["risk_level"]).name, "text": text,
                             "updated_at": row["updated_at"].isoformat()})
    check_origin(request, node.settings.allowed_origins)
    data = await json_body(request)
    topics = data.get("topics", [])
    if not isinstance(topics, list) or len(topics) > 20 or not all(
        isinstance(t, str) and 0 < len(t) <= 32 for t in topics
    ):
        raise Problem(400, "bad_field", "topics must be up to 20 short strings", field="topics")
    level = level_value(data.get("risk_level"))
    if level is None:
        raise Problem(400, "bad_field", "risk_level must be none, watch, high or imminent",
                      field="risk_level")
    text = field_str(data, "text", max_len=MAX_NOTE, required=False) or ""
    if wrapped is None:
        raise Problem(409, "conflict", "this conversation's key was destroyed")
    sealed = seal_text(node.vault, wrapped, conv_id, 0, "counselor", text, "case_note")
    await pool.execute(
        "INSERT INTO case_notes (conversation_id, counselor_id, topics, risk_level, note_nonce,"
        " note_ciphertext, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        " ON CONFLICT (conversation_id) DO UPDATE SET topics = EXCLUDED.topics,"
        " risk_level = EXCLUDED.risk_level, note_nonce = EXCLUDED.note_nonce,"
        " note_ciphertext = EXCLUDED.note_ciphertext, updated_at = EXCLUDED.updated_at",
        uuid.UUID(conv_id), uuid.UUID(p.id), topics, level, sealed.nonce, sealed.ciphertext,
        node.now())
    await chat().ending.release_seat(conv_id)
    return JSONResponse({"conversation_id": conv_id, "topics": topics,
                         "risk_level": RiskLevel(level).name})


def level_value(name: object) -> int | None:
    if not isinstance(name, str):
        return None
    try:
        return int(RiskLevel.parse(name))
    except (ValueError, KeyError):
        return None


def routes(chat: ChatRef, node: NodeRef) -> list[BaseRoute]:
    return [
        Route("/api/staff/session", partial(staff_sign_in, node), methods=["POST"]),
        Route("/api/staff/me", partial(staff_me, node), methods=["GET", "PUT"]),
        Route("/api/staff/signout", partial(staff_sign_out, node), methods=["POST"]),
        Route("/api/staff/conversations/{conversation_id}/messages", partial(staff_messages, node)),
        Route("/api/staff/conversations/{conversation_id}/note", partial(staff_note, chat, node),
              methods=["GET", "PUT"]),
    ]
