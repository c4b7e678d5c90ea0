"""HTTP errors as problem+json, and the checks every API route shares."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from chat_server.accounts.sessions import Principal
from chat_server.wire import codec as wire
from yizhan_errors import YizhanError

_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 429: "Too many requests", 503: "Unavailable"}


class Problem(YizhanError):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"type": "about:blank", "title": _TITLES.get(self.status, "Error"),
                "status": self.status, "code": self.code, "detail": self.detail, **self.extra}
        headers = {}
        if "retry_after" in self.extra:
            headers["Retry-After"] = str(int(self.extra["retry_after"]) or 1)
        return JSONResponse(body, status_code=self.status, headers=headers,
                            media_type="application/problem+json")


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return exc.response()


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, method not allowed) as problem+json under
    /api/, so a client reads one error format; the static pages keep their plain text."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):  # as Starlette's own handler: no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    if not request.url.path.startswith("/api/"):
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    problem = Problem(exc.status_code, code, str(exc.detail))
    response = problem.response()
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 16 * 1024:
        raise Problem(400, "bad_json", "body too large")
    try:
        data = wire.loads(raw or b"{}")
    except ValueError:
        raise Problem(400, "bad_json", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise Problem(400, "bad_json", "body must be a JSON object")
    if (why := wire.why_unacceptable(data)) is not None:
        raise Problem(400, "bad_json", why)
    return data


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter within bounds (a number PostgreSQL can hold), else 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if len(raw) <= 20 else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise Problem(400, "bad_field", f"{name} must be an integer from {low} to {high}",
                      field=name)
    return value


def path_int(request: Request, name: str, what: str) -> int:
    """A numeric id in the path; anything else (or past bigint) is simply not found."""
    raw = str(request.path_params.get(name, ""))
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise Problem(404, "not_found", f"no such {what}")
    return int(raw)


def check_origin(request: Request, allowed: Collection[str]) -> None:
    """State-changing requests must come from our own pages (CSRF defence); `allowed` is
    the node's settings.allowed_origins, handed over by the route."""
    origin = request.headers.get("origin")
    if origin is None or origin.rstrip("/") not in allowed:
        raise Problem(403, "bad_origin", "request origin is not allowed")


def field_str(data: dict[str, Any], name: str, *, max_len: int, required: bool = True,
              ) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_len:
        raise Problem(400, "bad_field", f"{name} must be a string of at most {max_len} characters",
                      field=name)
    return value


def field_int(data: dict[str, Any], name: str, *, low: int, high: int) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Problem(400, "bad_field", f"{name} must be an integer from {low} to {high}",
                      field=name)
    return value


def require_role(principal: Principal | None, *roles: str) -> Principal:
    if principal is None:
        raise Problem(401, "unauthenticated", "sign in first")
    if roles and str(principal.role) not in roles:
        raise Problem(403, "forbidden", "your role may not do this")
    return principal
