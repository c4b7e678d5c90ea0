"""HTTP API: status, the worker's sign-in, PIN, history and rating, and the helpers every
route module shares (staff routes: staff_api.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_queue.keys import signin_rate_scope
from chat_server import access, metrics
from chat_server.accounts.sessions import (
    DEVICE_COOKIE,
    DEVICE_TTL,
    WORKER_COOKIE,
    BadPin,
    NoPossession,
    PinIncorrect,
    PinSlowed,
    Principal,
    normalize_pin,
)
from chat_server.accounts.throttle import Throttle, scope_key
from chat_server.chat.core import ChatCore
from chat_server.chat.hub import session_channel, user_channel
from chat_server.chat.node import Node, NodeRef
from chat_server.chat.store import StoredMessage, may_read
from chat_server.problems import (
    Problem,
    check_origin,
    field_int,
    field_str,
    json_body,
    require_role,
)
from chat_server.vault import seal_text
from chat_server.wire.events import Revoked
from chat_server.wire.protocol import Role
from crypto.errors import InvalidIdentity
from crypto.pseudonym import identify, pseudonym

MAX_COMMENT = 500
HISTORY_PAGE = 1000
HISTORY_CONVERSATIONS = 20

# The node's chat core, made in the lifespan (routes are made before it).
ChatRef = Callable[[], ChatCore]


async def principal(node: Node, request: Request, cookie: str) -> Principal | None:
    """The caller's session if it is of the kind `cookie` is for (see access.py)."""
    return await access.resolve(request, cookie, node.sessions)


def set_session_cookie(node: Node, request: Request, response: Response, name: str,
                       token: str, max_age: int, path: str = "/") -> None:
    response.set_cookie(name, token, max_age=max_age, path=path, httponly=True,
                        samesite="strict", secure=cookies_secure(node, request))


def cookies_secure(node: Node, request: Request) -> bool:
    """Secure behind TLS: by setting, or when a trusted proxy says the client used https
    (uvicorn's proxy headers, from YIZHAN_TRUSTED_PROXIES only, set the scheme)."""
    return node.settings.secure_cookies or request.url.scheme == "https"


def delete_cookie(node: Node, request: Request, response: Response, name: str,
                  path: str = "/") -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="strict",
                           secure=cookies_secure(node, request))


async def rate_limit(node: Node, key: str, limit: int, window_s: int) -> None:
    wait = await throttle_of(node).count(key, limit, window_s)
    if wait:
        raise Problem(429, "rate_limited", "too many attempts; wait a little", retry_after=wait)


def throttle_of(node: Node) -> Throttle:
    return Throttle(node.services.redis)


async def slowed(node: Node, keys: list[str]) -> None:
    wait = await throttle_of(node).wait_s(keys, node.now_ms())
    if wait:
        raise Problem(429, "rate_limited", "too many attempts; wait a little", retry_after=wait)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def revoke_and_disconnect(node: Node, p: Principal) -> None:
    """Sign out: the session stops working and its open sockets close, on every node."""
    await node.sessions.revoke(p.token_hash)
    channel = session_channel(p.token_hash) if p.role is Role.WORKER else user_channel(p.id)
    await node.hub.publish(channel, Revoked(p.token_hash.hex()))


# ---- public --------------------------------------------------------------------------


async def status(chat: ChatRef, request: Request) -> Response:
    return JSONResponse(await chat().waiting.status())


# ---- workers -------------------------------------------------------------------------


async def worker_sign_in(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    data = await json_body(request)
    number = field_str(data, "number", max_len=64)
    consent = field_str(data, "consent_version", max_len=32)
    pin = field_str(data, "pin", max_len=16, required=False)
    assert number is not None
    if consent != node.settings.consent_version:
        raise Problem(400, "consent_required", "please read and accept the current consent",
                      consent_version=node.settings.consent_version)
    try:
        identity = identify(number, node.sessions.card_rule)
    except InvalidIdentity as exc:
        await signin_limit(node, request)
        metrics.SIGNINS.labels(kind="worker", outcome="invalid").inc()
        raise Problem(400, "invalid_number", "the number is not valid", reason=exc.code) from None
    device = request.cookies.get(DEVICE_COOKIE)
    # The per-address limit does not apply to the worker's own browser signing in to its
    # own number (a shared factory NAT must not keep the worker out): nobody else can show
    # that device credential.
    if not await node.sessions.is_device_of(device, number):
        await signin_limit(node, request)
    try:
        pin = normalize_pin(pin) if pin is not None else None
    except BadPin as exc:
        raise Problem(400, "bad_field", str(exc), field="pin") from None
    # PIN guesses are slowed per number (from any address) and per address (across
    # numbers); never a lockout: the wait grows to minutes at most, and a phone holding
    # the device credential signs in at once (the PIN is then not tried).
    slow_keys = [scope_key("pin", pseudonym(node.sessions.ring, identity).hex()[:32]),
                 scope_key("pin-source", client_ip(request))]
    wait = await throttle_of(node).wait_s(slow_keys, node.now_ms()) if pin is not None else 0
    try:
        result = await node.sessions.worker_sign_in(
            number, consent_version=consent or "", ttl_s=node.settings.worker_session_ttl_s,
            pin=pin, device_token=device, pin_slowed=wait > 0,
        )
    except PinSlowed:
        raise Problem(429, "rate_limited", "too many attempts; wait a little",
                      retry_after=wait) from None
    except PinIncorrect:
        metrics.SIGNINS.labels(kind="worker", outcome="pin_incorrect").inc()
        await throttle_of(node).failed(slow_keys, node.now_ms())
        raise Problem(401, "pin_incorrect", "the PIN does not match") from None
    metrics.SIGNINS.labels(kind="worker", outcome="ok").inc()
    p = result.principal
    body = {"alias": p.name, "history_access": p.history_access,
            # Whether a PIN exists is told only to a session that holds what it guards.
            "pin_set": result.pin_set if p.history_access else None}
    response = JSONResponse(body, status_code=201)
    set_session_cookie(node, request, response, WORKER_COOKIE, result.token,
                       node.settings.worker_session_ttl_s)
    if result.device_token:
        set_session_cookie(node, request, response, DEVICE_COOKIE, result.device_token,
                           int(DEVICE_TTL.total_seconds()), path="/api/worker")
    return response


async def signin_limit(node: Node, request: Request) -> None:
    await rate_limit(node, signin_rate_scope(client_ip(request)),
                     node.settings.signin_per_minute_per_ip, 60)


async def worker_me(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    p = require_role(await principal(node, request, WORKER_COOKIE), "worker")
    conv = await node.conversations.open_for_session(p.id, p.token_hash, p.devices)
    open_conv = {"id": conv.id, "status": conv.status} if conv is not None else None
    return JSONResponse({
        "alias": p.name, "history_access": p.history_access,
        "pin_set": await node.sessions.devices_have_pin(p.devices) if p.history_access
        else None,
        "open_conversation": open_conv,
    })


async def worker_pin(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    p = require_role(await principal(node, request, WORKER_COOKIE), "worker")
    data = await json_body(request)
    if "pin" in data:
        # An older page sending a PIN of its own must not be told it was set.
        raise Problem(400, "bad_field", "the code is chosen by the server; send {}",
                      field="pin")
    try:
        pin = await node.sessions.new_code(p)
    except NoPossession:
        raise Problem(403, "history_locked",
                      "a code can be made once this device has had a conversation") from None
    return JSONResponse({"pin": pin}, status_code=201)


async def all_messages(node: Node, conversation_id: str) -> list[StoredMessage]:
    """Every stored message of a conversation, read a page at a time."""
    out: list[StoredMessage] = []
    while True:
        page = await node.conversations.messages_after(
            conversation_id, out[-1].seq if out else 0, limit=HISTORY_PAGE)
        out.extend(page)
        if len(page) < HISTORY_PAGE:
            return out


async def worker_history(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    p = require_role(await principal(node, request, WORKER_COOKIE), "worker")
    if not p.history_access:
        raise Problem(403, "history_locked", "enter your PIN to see past conversations")
    rows = await node.conversations.readable_by(p.id, p.token_hash, p.devices,
                                                HISTORY_CONVERSATIONS)
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


async def worker_rating(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    p = require_role(await principal(node, request, WORKER_COOKIE), "worker")
    conv_id = parse_uuid(request.path_params["conversation_id"])
    data = await json_body(request)
    score = field_int(data, "score", low=1, high=5)
    comment = field_str(data, "comment", max_len=MAX_COMMENT, required=False) or ""
    conv = await node.conversations.get(conv_id)
    if conv is None or not may_read(p, conv):
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


async def worker_sign_out(node_of: NodeRef, request: Request) -> Response:
    node = node_of()
    check_origin(request, node.settings.allowed_origins)
    p = await principal(node, request, WORKER_COOKIE)
    data = await json_body(request)
    if p is not None:
        await revoke_and_disconnect(node, p)
    response = Response(status_code=204)
    delete_cookie(node, request, response, WORKER_COOKIE)
    if data.get("forget_device") is True:
        device = request.cookies.get(DEVICE_COOKIE)
        if device:
            await node.sessions.forget_device(device)
        delete_cookie(node, request, response, DEVICE_COOKIE, path="/api/worker")
    return response


def parse_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise Problem(404, "not_found", "no such conversation") from None


def routes(chat: ChatRef, node: NodeRef) -> list[BaseRoute]:
    return [
        Route("/api/status", partial(status, chat)),
        Route("/api/worker/session", partial(worker_sign_in, node), methods=["POST"]),
        Route("/api/worker/me", partial(worker_me, node)),
        Route("/api/worker/pin", partial(worker_pin, node), methods=["POST"]),
        Route("/api/worker/history", partial(worker_history, node)),
        Route("/api/worker/conversations/{conversation_id}/rating", partial(worker_rating, node),
              methods=["POST"]),
        Route("/api/worker/signout", partial(worker_sign_out, node), methods=["POST"]),
    ]
