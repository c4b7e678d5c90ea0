"""HTTP API: status, sign-in, PIN, history, rating, case notes."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server import metrics
from chat_server.conversations import StoredMessage
from chat_server.crisis import RiskLevel
from chat_server.hub import user_channel
from chat_server.node import Node
from chat_server.problems import (
    Problem,
    check_origin,
    field_int,
    field_str,
    json_body,
    require_role,
)
from chat_server.sessions import (
    DEVICE_COOKIE,
    DEVICE_TTL,
    STAFF_COOKIE,
    WORKER_COOKIE,
    BadCredentials,
    PinIncorrect,
    Principal,
    WeakPin,
)
from chat_server.staff_2fa import second_factor
from chat_server.vault import open_text, seal_text
from crypto.errors import InvalidIdentity
from crypto.pseudonym import identify, pseudonym

PIN_FAILURES_PER_HOUR = 5
MAX_COMMENT = 500
MAX_NOTE = 8000
HISTORY_PAGE = 1000


def node_of(request: Request) -> Node:
    return request.app.state.node


async def principal(request: Request, cookie: str) -> Principal | None:
    token = request.cookies.get(cookie)
    auth = request.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return await node_of(request).sessions.lookup(token)


def set_session_cookie(response: Response, name: str, token: str, max_age: int,
                       path: str = "/") -> None:
    response.set_cookie(name, token, max_age=max_age, path=path, httponly=True,
                        samesite="strict", secure=False)


async def rate_limit(node: Node, key: str, limit: int, window_s: int) -> None:
    redis = node.services.redis
    full = f"yz:rl:{key}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(full)
        pipe.expire(full, window_s, nx=True)
        count, _ = await pipe.execute()
    if int(count) > limit:
        ttl = await redis.ttl(full)
        raise Problem(429, "rate_limited", "too many attempts; wait a little",
                      retry_after=max(1, int(ttl)))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def revoke_and_disconnect(node: Node, p: Principal) -> None:
    """Sign out: the session stops working and its open sockets close, on every node."""
    await node.sessions.revoke(p.token_hash)
    await node.hub.publish(user_channel(p.id), {"t": "revoked", "h": p.token_hash.hex()})


# ---- public --------------------------------------------------------------------------


async def status(request: Request) -> Response:
    node = node_of(request)
    assert node.dispatcher is not None
    return JSONResponse(await node.dispatcher.status())


# ---- workers -------------------------------------------------------------------------


async def worker_sign_in(request: Request) -> Response:
    check_origin(request)
    node = node_of(request)
    data = await json_body(request)
    number = field_str(data, "number", max_len=64)
    consent = field_str(data, "consent_version", max_len=32)
    pin = field_str(data, "pin", max_len=16, required=False)
    assert number is not None
    if consent != node.settings.consent_version:
        raise Problem(400, "consent_required", "please read and accept the current consent",
                      consent_version=node.settings.consent_version)
    await rate_limit(node, f"signin:{client_ip(request)}", node.settings.signin_per_minute_per_ip,
                     60)
    try:
        identity = identify(number, node.sessions.card_rule)
    except InvalidIdentity as exc:
        metrics.SIGNINS.labels(kind="worker", outcome="invalid").inc()
        raise Problem(400, "invalid_number", "the number is not valid", reason=exc.code) from None
    if pin is not None:
        # Limited per worker: a guesser cannot try PINs forever, and the real worker can
        # still sign in without a PIN (or with the device) meanwhile.
        fragment = pseudonym(node.sessions.ring, identity).hex()[:32]
        await rate_limit(node, f"pin:{fragment}", PIN_FAILURES_PER_HOUR, 3600)
    try:
        result = await node.sessions.worker_sign_in(
            number, consent_version=consent or "", ttl_s=node.settings.worker_session_ttl_s,
            pin=pin, device_token=request.cookies.get(DEVICE_COOKIE),
        )
    except PinIncorrect:
        metrics.SIGNINS.labels(kind="worker", outcome="pin_incorrect").inc()
        raise Problem(401, "pin_incorrect", "the PIN does not match") from None
    if pin is not None:
        fragment = pseudonym(node.sessions.ring, identity).hex()[:32]
        await node.services.redis.delete(f"yz:rl:pin:{fragment}")
    metrics.SIGNINS.labels(kind="worker", outcome="ok").inc()
    p = result.principal
    body = {"alias": p.name, "history_access": p.history_access,
            # Whether a PIN exists is told only to a session that proved it is this worker.
            "pin_set": result.pin_set if p.history_access else None}
    response = JSONResponse(body, status_code=201)
    set_session_cookie(response, WORKER_COOKIE, result.token, node.settings.worker_session_ttl_s)
    if result.device_token:
        set_session_cookie(response, DEVICE_COOKIE, result.device_token,
                           int(DEVICE_TTL.total_seconds()), path="/api/worker")
    return response


async def worker_me(request: Request) -> Response:
    node = node_of(request)
    p = require_role(await principal(request, WORKER_COOKIE), "worker")
    conv = await node.conversations.open_for_worker(p.id)
    open_conv = None
    if conv is not None and (p.history_access or conv.opened_by_session == p.token_hash):
        open_conv = {"id": conv.id, "status": conv.status}
    return JSONResponse({
        "alias": p.name, "history_access": p.history_access,
        "pin_set": await node.sessions.pin_set(p.id) if p.history_access else None,
        "open_conversation": open_conv,
    })


async def worker_pin(request: Request) -> Response:
    check_origin(request)
    node = node_of(request)
    p = require_role(await principal(request, WORKER_COOKIE), "worker")
    data = await json_body(request)
    pin = field_str(data, "pin", max_len=16)
    if await node.sessions.pin_set(p.id) and not p.history_access:
        raise Problem(403, "history_locked", "prove the old PIN or this device first")
    try:
        await node.sessions.set_pin(p.id, pin or "")
    except WeakPin as exc:
        raise Problem(400, "weak_pin", str(exc)) from None
    return Response(status_code=204)


async def all_messages(node: Node, conversation_id: str) -> list[StoredMessage]:
    """Every stored message of a conversation, read a page at a time."""
    out: list[StoredMessage] = []
    while True:
        page = await node.conversations.messages_after(
            conversation_id, out[-1].seq if out else 0, limit=HISTORY_PAGE)
        out.extend(page)
        if len(page) < HISTORY_PAGE:
            return out


async def worker_history(request: Request) -> Response:
    node = node_of(request)
    p = require_role(await principal(request, WORKER_COOKIE), "worker")
    if not p.history_access:
        raise Problem(403, "history_locked", "enter your PIN to see past conversations")
    rows = await node.services.pool.fetch(
        "SELECT c.id, c.status, c.created_at, c.ended_at, s.display_name FROM conversations c"
        " LEFT JOIN staff s ON s.id = c.counselor_id WHERE c.worker_id = $1"
        # Shredded (deleted by the worker, or past retention): nothing left to show.
        " AND c.shredded_at IS NULL ORDER BY c.created_at DESC LIMIT 20",
        uuid.UUID(p.id),
    )
    conversations = []
    for r in rows:
        messages = await all_messages(node, str(r["id"]))
        conversations.append({
            "id": str(r["id"]), "status": r["status"], "started_at": r["created_at"].isoformat(),
            "ended_at": r["ended_at"].isoformat() if r["ended_at"] else None,
            "counselor": r["display_name"],
            "messages": [{"seq": m.seq, "from": m.sender_role, "text": m.text,
                          "at": m.at.isoformat()} for m in messages],
        })
    return JSONResponse({"conversations": conversations})


async def worker_rating(request: Request) -> Response:
    check_origin(request)
    node = node_of(request)
    p = require_role(await principal(request, WORKER_COOKIE), "worker")
    conv_id = parse_uuid(request.path_params["conversation_id"])
    data = await json_body(request)
    score = field_int(data, "score", low=1, high=5)
    comment = field_str(data, "comment", max_len=MAX_COMMENT, required=False) or ""
    conv = await node.conversations.get(conv_id)
    if conv is None or conv.worker_id != p.id or not (
        p.history_access or conv.opened_by_session == p.token_hash
    ):
        raise Problem(404, "not_found", "no such conversation")
    if conv.status != "ended":
        raise Problem(409, "conflict", "a conversation can be rated once it has ended")
    nonce = ciphertext = None
    if comment.strip():
        wrapped = await node.conversations.wrapped_key(conv.id)
        if wrapped is not None:
            sealed = seal_text(node.vault, wrapped, conv.id, 0, "worker", comment, "rating")
            nonce, ciphertext = sealed.nonce, sealed.ciphertext
    inserted = await node.services.pool.fetchval(
        "INSERT INTO ratings (conversation_id, counselor_id, score, comment_nonce,"
        " comment_ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        uuid.UUID(conv.id), uuid.UUID(conv.counselor_id) if conv.counselor_id else None,
        score, nonce, ciphertext, node.now(),
    )
    if not inserted:
        raise Problem(409, "conflict", "this conversation was already rated")
    return JSONResponse({"conversation_id": conv.id, "score": score}, status_code=201)


async def worker_sign_out(request: Request) -> Response:
    check_origin(request)
    node = node_of(request)
    p = await principal(request, WORKER_COOKIE)
    data = await json_body(request)
    if p is not None:
        await revoke_and_disconnect(node, p)
    response = Response(status_code=204)
    response.delete_cookie(WORKER_COOKIE, path="/")
    if data.get("forget_device") is True:
        device = request.cookies.get(DEVICE_COOKIE)
        if device:
            await node.sessions.forget_device(device)
        response.delete_cookie(DEVICE_COOKIE, path="/api/worker")
    return response


# ---- staff ---------------------------------------------------------------------------


def staff_body(p: Principal) -> dict[str, Any]:
    return {"id": p.id, "display_name": p.name, "role": str(p.role), "capacity": p.capacity,
            "username": p.username}


async def staff_sign_in(request: Request) -> Response:
    check_origin(request)
    node = node_of(request)
    data = await json_body(request)
    username = field_str(data, "username", max_len=64)
    password = field_str(data, "password", max_len=1024)
    await rate_limit(node, f"staff:{client_ip(request)}", node.settings.signin_per_minute_per_ip,
                     60)
    try:
        token, p = await node.sessions.staff_sign_in(
            username or "", password or "", ttl_s=node.settings.session_ttl_s,
            second_factor=second_factor(request, data))
    except BadCredentials:
        metrics.SIGNINS.labels(kind="staff", outcome="bad_credentials").inc()
        raise Problem(401, "bad_credentials", "wrong name or password") from None
    metrics.SIGNINS.labels(kind="staff", outcome="ok").inc()
    response = JSONResponse(staff_body(p), status_code=201)
    set_session_cookie(response, STAFF_COOKIE, token, node.settings.session_ttl_s)
    return response


async def staff_me(request: Request) -> Response:
    node = node_of(request)
    p = require_role(await principal(request, STAFF_COOKIE))
    if request.method == "PUT":
        check_origin(request)
        data = await json_body(request)
        name = field_str(data, "display_name", max_len=32)
        await node.services.pool.execute(
            "UPDATE staff SET display_name = $2 WHERE id = $1", uuid.UUID(p.id), name)
        p = await node.sessions.lookup_hash(p.token_hash) or p
    return JSONResponse(staff_body(p))


async def staff_sign_out(request: Request) -> Response:
    check_origin(request)
    node = node_of(request)
    p = await principal(request, STAFF_COOKIE)
    if p is not None:
        await revoke_and_disconnect(node, p)
    response = Response(status_code=204)
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response


def parse_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise Problem(404, "not_found", "no such conversation") from None


async def counselor_conversation(request: Request, p: Principal) -> str:
    """The conversation id if this counselor served it (404 otherwise)."""
    node = node_of(request)
    conv = await node.conversations.get(parse_uuid(request.path_params["conversation_id"]))
    if conv is None or conv.counselor_id != p.id:
        raise Problem(404, "not_found", "no such conversation")
    return conv.id


async def staff_messages(request: Request) -> Response:
    node = node_of(request)
    p = require_role(await principal(request, STAFF_COOKIE), "counselor")
    conv_id = await counselor_conversation(request, p)
    try:
        after = int(request.query_params.get("after", "0"))
    except ValueError:
        raise Problem(400, "bad_field", "after must be an integer", field="after") from None
    messages = await node.conversations.messages_after(conv_id, max(0, after))
    await node.services.pool.execute(
        "INSERT INTO audit_log (actor_staff_id, action, conversation_id, reason, at)"
        " VALUES ($1, 'read_transcript', $2, 'own conversation (http)', $3)",
        uuid.UUID(p.id), uuid.UUID(conv_id), node.now())
    return JSONResponse({"messages": [m.frame() for m in messages]})


async def staff_note(request: Request) -> Response:
    node = node_of(request)
    p = require_role(await principal(request, STAFF_COOKIE), "counselor")
    conv_id = await counselor_conversation(request, p)
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
    check_origin(request)
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
    assert node.dispatcher is not None
    await node.dispatcher.release_seat(conv_id)
    return JSONResponse({"conversation_id": conv_id, "topics": topics,
                         "risk_level": RiskLevel(level).name})


def level_value(name: object) -> int | None:
    if not isinstance(name, str):
        return None
    try:
        return int(RiskLevel.parse(name))
    except (ValueError, KeyError):
        return None


def routes() -> list[BaseRoute]:
    return [
        Route("/api/status", status),
        Route("/api/worker/session", worker_sign_in, methods=["POST"]),
        Route("/api/worker/me", worker_me),
        Route("/api/worker/pin", worker_pin, methods=["POST"]),
        Route("/api/worker/history", worker_history),
        Route("/api/worker/conversations/{conversation_id}/rating", worker_rating,
              methods=["POST"]),
        Route("/api/worker/signout", worker_sign_out, methods=["POST"]),
        Route("/api/staff/session", staff_sign_in, methods=["POST"]),
        Route("/api/staff/me", staff_me, methods=["GET", "PUT"]),
        Route("/api/staff/signout", staff_sign_out, methods=["POST"]),
        Route("/api/staff/conversations/{conversation_id}/messages", staff_messages),
        Route("/api/staff/conversations/{conversation_id}/note", staff_note,
              methods=["GET", "PUT"]),
    ]
