"""Property-based fuzzing of every HTTP route and every frame type: never a 5xx, never an
exception in the log, malformed input answered with a 4xx problem or an `error` frame.

Hypothesis draws the cases from a fixed seed (derandomize), so a run is repeatable; they
are drawn first and then sent through a running node (Hypothesis cannot await), which
keeps the test to a few thousand cases in well under a minute on an idle machine.
FUZZ_HTTP and FUZZ_FRAMES set other counts for a longer run.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from chat_server.wire.commands import FRAMES
from tests.clients import connect, make_staff, matched_pair
from tests.conftest import ORIGIN

HTTP_CASES = int(os.environ.get("FUZZ_HTTP", "1000"))
FRAME_CASES = int(os.environ.get("FUZZ_FRAMES", "1200"))

FIELDS = ["answers", "combination", "comment", "consent_version", "date", "display_name",
          "end", "forget_device", "hours", "kind", "name", "note", "number", "password",
          "phone", "pin", "region", "resource", "resource_id", "risk_level", "rule", "score",
          "staff_id", "start", "status", "text", "topics", "until", "username", "valid_from",
          "valid_until", "verify_before_launch", "weekdays",
          # frames
          "conversation_id", "escalation_id", "client_id", "after_seq", "seq", "reason",
          "level", "outcome", "on", "capacity", "replace", "ref"]
QUERY = ["after", "limit", "week", "weeks", "date", "from", "to", "days", "due", "status",
         "conversation_id", "format"]

nasty_text = st.one_of(
    st.text(max_size=16),
    st.sampled_from(["", "\x00", "a\x00b", "\ud800", "x\udfff", "9" * 30, "-1", "2026-W99",
                     "9999-W52", "0000-00-00", "1e999", "NaN", "none", "high", "leave",
                     "00000000-0000-0000-0000-000000000000", "482913", "110105199001011234",
                     "2026-11", "mon-fri", "10:00", "25:61"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=False, allow_infinity=False), nasty_text)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)), max_leaves=3)
objects = st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)


def body_text(obj: Any) -> str:
    # ensure_ascii writes lone surrogates as \ud800 escapes, as an attacker would.
    return json.dumps(obj, ensure_ascii=True, allow_nan=False)


SPECIAL_BODIES = {
    "empty": "", "open": "{", "list": "[]", "null": "null", "one": "1", "string": '"x"',
    "deep list": "[" * 5000 + "]" * 5000, "deep object": '{"a":' * 2000 + "1" + "}" * 2000,
    "infinite": '{"score": 1e999}', "not utf-8": "\xff\xfe",
}
raw_bodies = st.one_of(
    objects.map(body_text),
    st.sampled_from(sorted(SPECIAL_BODIES)).map(SPECIAL_BODIES.__getitem__),
    values.map(body_text),
)


def draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones every run."""
    drawn: list[Any] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn[:count]


def http_case() -> st.SearchStrategy[Any]:
    return st.tuples(
        st.sampled_from(["worker", "counselor", "supervisor", "admin", None]),
        st.sampled_from(["00000000-0000-0000-0000-000000000000", "conv", "1", "x", "-1",
                         str(10**20), "%00", "..%2f"]),
        st.dictionaries(st.sampled_from(QUERY), nasty_text, max_size=3),
        raw_bodies,
    )


frame_case = st.tuples(
    st.sampled_from(["worker", "counselor", "supervisor", "admin"]),
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=4),
    st.sampled_from(["conv", "random", None]),
)


@pytest.mark.timeout(300)
async def test_fuzz_every_route_and_frame(node_factory, caplog: pytest.LogCaptureFixture) -> None:
    node = await node_factory(messages_per_minute=10**5, signin_per_minute_per_ip=10**5)
    worker, wws, counselor, _cws, conv = await matched_pair(node)
    supervisor = await make_staff(node, role="supervisor")
    admin = await make_staff(node, role="admin")
    clients = {"worker": worker.http, "counselor": counselor.http,
               "supervisor": supervisor.http, "admin": admin.http}
    paths = []
    for route in node.app.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD" and not route.path.endswith("/signout"):
                    paths.append((method, route.path))
    caplog.set_level(logging.WARNING)
    anonymous = httpx.AsyncClient(base_url=node.base, headers={"Origin": ORIGIN})
    statuses: dict[int, int] = {}
    # Every route and method in turn (Hypothesis favours the first of a sampled list).
    http_cases = [(paths[i % len(paths)], *case)
                  for i, case in enumerate(draw(http_case(), HTTP_CASES))]
    for (method, template), who, ident, query, body in http_cases:
        ident = conv if ident == "conv" else ident
        # Every path parameter of every route gets the same identifier.
        # (`{rest:path}`: the converter's name is not a format spec.)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", template).format_map(
            collections.defaultdict(lambda i=ident: i))
        client = clients[who] if who else anonymous
        if query:
            # Encoded by hand: lone surrogates go out as the bytes a hostile client sends.
            path += "?" + "&".join(
                f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
                for k, v in query.items())
        r = await client.request(method, path, content=body.encode(
            "utf-8", "surrogatepass"), headers={"Content-Type": "application/json"})
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (method, template, r.status_code)
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), (
                template, r.status_code)
    assert sum(n for s, n in statuses.items() if 400 <= s < 500) >= HTTP_CASES // 4

    sockets = {"worker": wws}
    for who, client in (("counselor", counselor), ("supervisor", supervisor), ("admin", admin)):
        sockets[who] = await connect(node.base.replace("http", "ws") + "/ws/staff",
                                     f"yz_s={client.http.cookies.get('yz_s')}")
    kinds = sorted(FRAMES)
    frame_cases = [(who, kinds[i % len(kinds)], fields, target)
                   for i, (who, fields, target) in enumerate(draw(frame_case, FRAME_CASES))]
    for who, kind, fields, target in frame_cases:
        frame = {**fields, "type": kind}
        if target == "conv":
            frame["conversation_id"] = conv
        elif target == "random":
            frame["conversation_id"] = "00000000-0000-0000-0000-000000000001"
        # ensure_ascii: lone surrogates go out as escapes, the way a hostile client sends them.
        await sockets[who].ws.send(json.dumps(frame, ensure_ascii=True, allow_nan=False))
    for who, ws in sockets.items():
        await ws.send({"type": "ping", "ref": "last"})
        while (f := await ws.recv(timeout=20)).get("ref") != "last":
            if f.get("type") == "error":
                assert f["code"] != "unavailable", (who, f)
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR
                or r.exc_info is not None or r.getMessage().startswith("socket writer failed")]
    assert not problems, [r.getMessage() for r in problems[:5]]
    await anonymous.aclose()
    for c in (worker, counselor, supervisor, admin):
        await c.close()


@settings(max_examples=600, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(FRAMES)), st.dictionaries(st.sampled_from(FIELDS), values,
                                                        max_size=5))
def test_every_frame_parser_refuses_garbage_with_a_protocol_error(kind: str,
                                                                 fields: dict) -> None:
    """The frame parsers alone (no socket): anything but a ProtocolError would be a crash."""
    from chat_server.wire.protocol import Limits, ProtocolError, Role, decode, parse

    raw = json.dumps({**fields, "type": kind}, ensure_ascii=True, allow_nan=False)
    for role in Role:
        try:
            parse(decode(raw), role, Limits(max_text_chars=2000), FRAMES)
        except ProtocolError:
            pass
