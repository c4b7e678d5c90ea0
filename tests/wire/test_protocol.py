"""The wire contract without I/O: frames in, typed commands or errors out; typed frames
and events in, JSON out and back (chat_server/wire/). No awaits, no sockets, no stores."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from chat_server.crisis.escalation import Screen
from chat_server.crisis.levels import RiskLevel
from chat_server.wire import codec, commands, events, frames
from chat_server.wire.feed import Emit, Feed, Fetch
from chat_server.wire.protocol import (
    FLOOD_STRIKES,
    FRAMES,
    ErrorCode,
    Limits,
    ProtocolError,
    Role,
    TokenBucket,
    decode,
    parse,
)

C = str(uuid.UUID(int=1))
E = str(uuid.UUID(int=2))
LIMITS = Limits()

# One valid frame of every client type, the role that may send it, and what it becomes.
VALID: dict[str, tuple[Role, dict[str, Any], commands.Command]] = {
    "ping": (Role.ADMIN, {}, commands.Ping("r")),
    "send": (Role.WORKER, {"conversation_id": C, "client_id": "w-1", "text": "hi"},
             commands.Send("r", C, "w-1", "hi")),
    "sync": (Role.COUNSELOR, {"conversation_id": C, "after_seq": 6}, commands.Sync("r", C, 6)),
    "typing": (Role.WORKER, {"conversation_id": C}, commands.Typing("r", C)),
    "read": (Role.COUNSELOR, {"conversation_id": C, "seq": 7}, commands.Read("r", C, 7)),
    "end": (Role.SUPERVISOR, {"conversation_id": C}, commands.End("r", C)),
    "request_chat": (Role.WORKER, {}, commands.RequestChat("r", False)),
    "leave_queue": (Role.WORKER, {}, commands.LeaveQueue("r")),
    "duty": (Role.COUNSELOR, {"on": True}, commands.Duty("r", True)),
    "capacity": (Role.COUNSELOR, {"capacity": 3}, commands.Capacity("r", 3)),
    "flag": (Role.COUNSELOR, {"conversation_id": C, "level": "high", "reason": "r"},
             commands.Flag("r", C, RiskLevel.high, "r")),
    "screen": (Role.WORKER, {"answers": {"phq2_1": 1, "phq2_2": 0, "phq9_9": 3}},
               commands.ScreenAnswers("r", Screen(1, 0, 3))),
    "ack": (Role.SUPERVISOR, {"escalation_id": E}, commands.Ack("r", E)),
    "watch": (Role.SUPERVISOR, {"conversation_id": C}, commands.Watch("r", C, "")),
    "whisper": (Role.SUPERVISOR, {"conversation_id": C, "text": "t"},
                commands.Whisper("r", C, "t")),
    "join": (Role.SUPERVISOR, {"conversation_id": C}, commands.Join("r", C)),
    "set_level": (Role.SUPERVISOR, {"escalation_id": E, "level": "none", "reason": "ok"},
                  commands.SetLevel("r", E, RiskLevel.none, "ok")),
    "resolve": (Role.SUPERVISOR, {"escalation_id": E, "outcome": "safe_plan"},
                commands.Resolve("r", E, "safe_plan", "")),
}


def refused(data: dict[str, Any], role: Role) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse(data, role, LIMITS)
    return caught.value


# ---- client frames ----------------------------------------------------------------------


def test_every_declared_client_frame_has_a_valid_example_here() -> None:
    assert set(VALID) == set(commands.FRAMES)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_valid_frame_becomes_its_typed_command(kind: str) -> None:
    role, fields, expected = VALID[kind]
    raw = codec.dumps({"type": kind, "ref": "r", **fields}).encode()
    command, spec = parse(decode(raw), role, LIMITS)
    assert type(command) is type(expected)
    assert dataclasses.astuple(command) == dataclasses.astuple(expected)
    assert spec is commands.FRAMES[kind]


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_frame_from_a_role_not_declared_for_it_is_an_unknown_type(kind: str) -> None:
    _, fields, _ = VALID[kind]
    for role in set(Role) - commands.FRAMES[kind].roles:
        assert refused({"type": kind, **fields}, role).code is ErrorCode.UNKNOWN_TYPE


def test_the_table_is_the_one_the_protocol_parses_with() -> None:
    # Built in one literal in wire/commands.py; the protocol module names the same dict.
    assert FRAMES is commands.FRAMES


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'"x"', b"\xff", "{\"type\": \"ping\"",
                                 b'{"type": "ping", "x": "\\u0000"}',
                                 b'{"a":' * 20 + b"1" + b"}" * 20])
def test_what_is_no_json_object_or_holds_what_no_store_takes_is_bad_json(raw: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(raw)
    assert caught.value.code is ErrorCode.BAD_JSON


def test_a_missing_or_unknown_type_is_refused_without_reading_fields() -> None:
    assert refused({}, Role.WORKER).code is ErrorCode.UNKNOWN_TYPE
    assert refused({"type": "nope"}, Role.ADMIN).code is ErrorCode.UNKNOWN_TYPE
    assert refused({"type": 7}, Role.ADMIN).code is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize(("kind", "role", "fields", "field"), [
    ("send", Role.WORKER, {"conversation_id": "x", "client_id": "a", "text": "t"},
     "conversation_id"),
    ("send", Role.WORKER, {"conversation_id": C, "client_id": "a b", "text": "t"}, "client_id"),
    ("send", Role.WORKER, {"conversation_id": C, "client_id": "a", "text": "  "}, "text"),
    ("sync", Role.WORKER, {"conversation_id": C, "after_seq": -1}, "after_seq"),
    ("sync", Role.WORKER, {"conversation_id": C, "after_seq": True}, "after_seq"),
    ("read", Role.WORKER, {"conversation_id": C, "seq": 2**62 + 1}, "seq"),
    ("duty", Role.COUNSELOR, {"on": "yes"}, "on"),
    ("capacity", Role.COUNSELOR, {"capacity": 11}, "capacity"),
    ("flag", Role.COUNSELOR, {"conversation_id": C, "level": "none", "reason": "r"}, "level"),
    ("screen", Role.WORKER, {"answers": {"phq2_1": 4, "phq2_2": 0, "phq9_9": 0}},
     "answers.phq2_1"),
    ("resolve", Role.SUPERVISOR, {"escalation_id": E, "outcome": "maybe"}, "outcome"),
])
def test_a_bad_field_is_named(kind: str, role: Role, fields: dict[str, Any], field: str) -> None:
    error = refused({"type": kind, "ref": "r7", **fields}, role)
    assert error.code is ErrorCode.BAD_FIELD
    assert error.extra == {"field": field}
    frame = error.frame("r7")
    assert frame["type"] == "error" and frame["code"] == "bad_field"
    assert frame["field"] == field and frame["ref"] == "r7"


def test_text_over_the_limit_is_too_long_and_the_limit_is_the_connections() -> None:
    send = {"type": "send", "conversation_id": C, "client_id": "a", "text": "字" * 11}
    assert parse(send, Role.WORKER, Limits(max_text_chars=11))[0] == commands.Send(
        None, C, "a", "字" * 11)
    error = refused({**send, "text": "字" * 2001}, Role.WORKER)
    assert error.code is ErrorCode.TOO_LONG and error.extra == {"field": "text"}


def test_a_ref_is_echoed_only_when_it_is_a_short_string() -> None:
    ping = {"type": "ping"}
    assert parse({**ping, "ref": "x" * 64}, Role.WORKER, LIMITS)[0].ref == "x" * 64
    assert parse({**ping, "ref": "x" * 65}, Role.WORKER, LIMITS)[0].ref is None
    assert parse({**ping, "ref": 5}, Role.WORKER, LIMITS)[0].ref is None


def test_typing_reads_and_pings_cost_a_tenth_of_a_send() -> None:
    cheap = {kind for kind, spec in commands.FRAMES.items() if spec.cost < 1}
    assert cheap == {"ping", "typing", "read"}


def test_an_error_frame_carries_its_extras_and_the_ref_last() -> None:
    error = ProtocolError(ErrorCode.RATE_LIMITED, "slow down", retry_after=2,
                          retry_after_ms=2000)
    assert error.frame() == {"type": "error", "code": "rate_limited", "message": "slow down",
                             "retry_after": 2, "retry_after_ms": 2000}
    assert list(error.frame("q")) == ["type", "code", "message", "retry_after",
                                      "retry_after_ms", "ref"]


# ---- rate limit ---------------------------------------------------------------------------


def test_a_burst_passes_then_the_steady_rate_and_refusals_count_as_strikes() -> None:
    bucket = TokenBucket(per_minute=60)
    assert all(bucket.take(1, 0.0) == 0 for _ in range(12))
    wait = bucket.take(1, 0.0)
    assert wait == pytest.approx(1.0) and bucket.strikes == 1
    assert bucket.take(1, 1.0) == 0 and bucket.strikes == 0
    for _ in range(FLOOD_STRIKES):
        bucket.take(1, 1.0)
    assert bucket.strikes == FLOOD_STRIKES


# ---- server frames ------------------------------------------------------------------------

# Each frame class against the dict the code built by hand before it (same keys, values).
ENCODED: list[tuple[frames.ServerFrame, dict[str, Any]]] = [
    (frames.Pong("2026-01-01T00:00:00+00:00", ref="p"),
     {"type": "pong", "at": "2026-01-01T00:00:00+00:00", "ref": "p"}),
    (frames.Ack(C, "w-1", 7, "t", False),
     {"type": "ack", "conversation_id": C, "client_id": "w-1", "seq": 7, "at": "t",
      "duplicate": False}),
    (frames.Message(C, 3, "system", "referral-1", "referral", "{}", "t", card={"name": "n"}),
     {"type": "message", "conversation_id": C, "seq": 3, "from": "system",
      "client_id": "referral-1", "kind": "referral", "text": "{}", "at": "t",
      "card": {"name": "n"}}),
    (frames.Synced(C, 9), {"type": "synced", "conversation_id": C, "last_seq": 9}),
    (frames.Typing(C, "counselor"),
     {"type": "typing", "conversation_id": C, "from": "counselor"}),
    (frames.Read(C, "worker", 7),
     {"type": "read", "conversation_id": C, "from": "worker", "seq": 7}),
    (frames.Ended(C, None, ref="e"),
     {"type": "ended", "conversation_id": C, "by": None, "ref": "e"}),
    (frames.Ended(C, "worker", wrapup_until="w"),
     {"type": "ended", "conversation_id": C, "by": "worker", "wrapup_until": "w"}),
    (frames.WorkerWelcome("职工·7F3K", False, None, {"id": C, "by": "worker", "rated": False},
                          {"open": True}),
     {"type": "welcome", "role": "worker", "alias": "职工·7F3K", "history_access": False,
      "conversation": None, "open_elsewhere": False,
      "last_ended": {"id": C, "by": "worker", "rated": False}, "service": {"open": True}}),
    (frames.Queued(C, 3, 240, extra={"estimated_wait_s": 300, "note": "n"}),
     {"type": "queued", "conversation_id": C, "position": 3, "estimated_wait_s": 300,
      "note": "n"}),
    (frames.Queued(C, 1, 60, handover=True),
     {"type": "queued", "conversation_id": C, "position": 1, "estimated_wait_s": 60,
      "handover": True}),
    (frames.QueuePosition(C, 2, 120),
     {"type": "queue", "conversation_id": C, "position": 2, "estimated_wait_s": 120}),
    (frames.Left(C), {"type": "left", "conversation_id": C}),
    (frames.Matched(C, "小林", 0),
     {"type": "matched", "conversation_id": C, "counselor": "小林", "last_seq": 0}),
    (frames.CounselorAway(C), {"type": "counselor_away", "conversation_id": C}),
    (frames.CounselorBack(C), {"type": "counselor_back", "conversation_id": C}),
    (frames.ServiceClosed(C, "n", []),
     {"type": "service_closed", "conversation_id": C, "next_open": "n", "hotlines": []}),
    (frames.StaffWelcome("supervisor", {"id": "s"}, {"on": False}, [], {"length": 0},
                         {"open": True}, extra={"escalations": []}),
     {"type": "welcome", "role": "supervisor", "staff": {"id": "s"}, "duty": {"on": False},
      "conversations": [], "queue": {"length": 0}, "service": {"open": True},
      "escalations": []}),
    (frames.Duty(True, 1, 2, False),
     {"type": "duty", "on": True, "load": 1, "capacity": 2, "draining": False,
      "duty": {"on": True, "load": 1, "capacity": 2, "draining": False}}),
    (frames.Duty(False, 0, 2, False, nested=False, ref="d"),
     {"type": "duty", "on": False, "load": 0, "capacity": 2, "draining": False, "ref": "d"}),
    (frames.Assigned({"id": C}), {"type": "assigned", "conversation": {"id": C}}),
    (frames.HandedOver(C), {"type": "handed_over", "conversation_id": C}),
    (frames.QueueStats(3, 95), {"type": "queue_stats", "length": 3, "longest_wait_s": 95}),
    (frames.WorkerAway(C, None, None, None),
     {"type": "worker_away", "conversation_id": C, "away_since": None, "gone_at": None,
      "release_at": None}),
    (frames.WorkerBack(C), {"type": "worker_back", "conversation_id": C}),
    (frames.Escalation({"id": E}, True, False, False, None),
     {"type": "escalation", "escalation": {"id": E}, "opened": True, "realert": False,
      "no_supervisor": False, "alert_to": None}),
    (frames.EscalationStatus(C, "e1", "acknowledged", "high", ["screen_phq9_item9"], False),
     {"type": "escalation_status", "conversation_id": C, "escalation_id": "e1",
      "status": "acknowledged", "level": "high", "reasons": ["screen_phq9_item9"],
      "realerted": False}),
    (frames.Risk(C, "high"), {"type": "risk", "conversation_id": C, "level": "high"}),
    (frames.NoSupervisor(C, E),
     {"type": "no_supervisor", "conversation_id": C, "escalation_id": E}),
    (frames.Hotlines([]), {"type": "hotlines", "hotlines": []}),
    (frames.Flagged(C, None, "watch"),
     {"type": "flagged", "conversation_id": C, "escalation_id": None, "level": "watch"}),
    (frames.Screened(C), {"type": "screened", "conversation_id": C}),
    (frames.EscalationResult("ack", {"id": E}),
     {"type": "escalation_result", "action": "ack", "escalation": {"id": E}}),
    (frames.Watching(C, 4, "active", None),
     {"type": "watching", "conversation_id": C, "last_seq": 4, "status": "active",
      "escalation": None}),
    (frames.Whisper(12, C, {"id": "s", "display_name": "d"}, "t", "a"),
     {"type": "whisper", "id": 12, "conversation_id": C,
      "from": {"id": "s", "display_name": "d"}, "text": "t", "at": "a"}),
    (frames.Whispered(12, C), {"type": "whispered", "id": 12, "conversation_id": C}),
    (frames.SupervisorJoined(C, "d"),
     {"type": "supervisor_joined", "conversation_id": C, "display_name": "d"}),
    (frames.Joined(C), {"type": "joined", "conversation_id": C}),
    (frames.Error("bad_field", "m", extra={"field": "f"}),
     {"type": "error", "code": "bad_field", "message": "m", "field": "f"}),
]


@pytest.mark.parametrize(("frame", "expected"), ENCODED,
                         ids=[type(f).__name__ for f, _ in ENCODED])
def test_a_server_frame_encodes_to_the_json_the_clients_know(
        frame: frames.ServerFrame, expected: dict[str, Any]) -> None:
    wire = frame.to_wire()
    assert wire == expected
    assert next(iter(wire)) == "type"
    assert codec.loads(codec.dumps(wire)) == expected


def test_every_server_frame_class_is_listed_and_encoded_here() -> None:
    assert {type(f) for f, _ in ENCODED} == set(frames.SERVER_FRAMES)
    for cls in frames.SERVER_FRAMES:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert "__slots__" in cls.__dict__


def test_ref_is_left_out_unless_given() -> None:
    assert "ref" not in frames.Left(C).to_wire()
    assert frames.Left(C, ref="x").to_wire()["ref"] == "x"


# ---- node events --------------------------------------------------------------------------

EVENTS: list[events.NodeEvent] = [
    events.MessageEvent(C, 7, "worker", "w-1", "text", "t", b"\x00n", b"ct\xff", 3, b"wk"),
    events.Nudge(C, 7),
    events.TypingEvent(C, "worker"),
    events.ReadEvent(C, "counselor", 6),
    events.FrameEvent(frames.Left(C).to_wire()),
    events.FrameEvent(frames.CounselorAway(C).to_wire(), roles=["worker"]),
    events.Revoked(),
    events.Revoked("ab" * 16),
    events.Follow(C, frames.Matched(C, "小林", 0).to_wire()),
    events.Unfollow(C, frames.HandedOver(C).to_wire()),
    events.DutyEvent(frames.Duty(True, 0, 2, False).to_wire()),
]


@pytest.mark.parametrize("event", EVENTS, ids=[type(e).__name__ for e in EVENTS])
def test_a_node_event_survives_the_trip_through_json(event: events.NodeEvent) -> None:
    payload = events.encode(event)
    assert payload["t"] == event.TAG
    assert None not in payload.values()
    assert events.decode(codec.loads(codec.dumps(payload))) == event


def test_every_event_class_has_one_table_entry_and_a_case_here() -> None:
    assert {type(e) for e in EVENTS} == {spec.cls for spec in events.EVENTS.values()}
    assert all(tag == spec.cls.TAG for tag, spec in events.EVENTS.items())


def test_events_are_compact_and_as_the_nodes_published_them() -> None:
    assert events.encode(events.Revoked()) == {"t": "revoked"}
    assert events.encode(events.Nudge(C, 3)) == {"t": "nudge", "c": C, "seq": 3}
    assert events.encode(events.MessageEvent(C, 1, "worker", "i", "text", "t", b"n", b"c", 2,
                                             b"w")) == {
        "t": "msg", "c": C, "seq": 1, "from": "worker", "client_id": "i", "kind": "text",
        "at": "t", "n": "bg==", "ct": "Yw==", "kv": 2, "wk": "dw=="}


def test_the_opened_form_of_a_message_never_goes_on_the_wire() -> None:
    event = events.MessageEvent(C, 1, "worker", "i", "text", "t", b"n", b"c", 2, b"w")
    opened = (object(), '{"type":"message"}')
    event.opened = opened
    payload = events.encode(event)
    assert set(payload) == {"t", "c", "seq", "from", "client_id", "kind", "at", "n", "ct",
                            "kv", "wk"}
    assert opened[1] not in codec.dumps(payload)
    assert events.decode(payload).opened is None  # type: ignore[attr-defined]
    # Not even a payload that names the old in-process key gets it back.
    assert events.decode({**payload, "_opened": opened}).opened is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("payload", [
    {}, {"t": 1}, {"t": "gossip"}, {"t": "nudge", "c": C}, {"t": "frame"},
    {"t": "msg", "c": C, "seq": 1, "from": "w", "client_id": "i", "kind": "text", "at": "t",
     "n": "!!", "ct": "", "kv": 1, "wk": ""},
    {"t": "msg", "c": C, "seq": 1, "from": "w", "client_id": "i", "kind": "text", "at": "t",
     "n": 5, "ct": "", "kv": 1, "wk": ""},
])
def test_what_is_no_event_is_refused_as_one_error(payload: dict[str, Any]) -> None:
    with pytest.raises(events.EventError):
        events.decode(payload)


# ---- a connection's feed, from the frames the client sends --------------------------------


def test_a_sync_frame_drives_the_feed_to_a_read_then_synced() -> None:
    feed = Feed(page_size=2)
    feed.follow(C, 5, held=True)
    assert feed.welcome() == []
    command, _ = parse(decode(b'{"type": "sync", "conversation_id": "%s", "after_seq": 3,'
                              b' "ref": "s1"}' % C.encode()), Role.WORKER, LIMITS)
    assert isinstance(command, commands.Sync)
    assert feed.sync(command.conversation_id, command.after_seq, command.ref) == [Fetch(C, 3)]
    # A live message heard during the read is only noted; the page brings 4 and 5.
    assert feed.live(C, 6, "m6") == []
    assert feed.page(C, 3, [(4, "m4"), (5, "m5")]) == [Emit("m4"), Emit("m5"), Fetch(C, 5)]
    assert feed.page(C, 5, [(6, "m6")]) == [
        Emit("m6"), Emit({"type": "synced", "conversation_id": C, "last_seq": 6, "ref": "s1"})]
    assert feed.live(C, 7, "m7") == [Emit("m7")]
