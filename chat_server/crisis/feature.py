"""The crisis path on a node: assess worker messages, escalate, alert, sweep deadlines.

Frames for supervisors (ack, watch, whisper, join, set_level, resolve), the counselor's
flag, the waiting worker's screen, and the HTTP routes of the supervisor board and the
referral directory. Rules live in escalation.py / referrals.py; PostgreSQL in
escalation_store.py. A worker is never sent a level, a reason or a whisper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_queue.matching import Band
from chat_server import metrics
from chat_server.chat.hub import conversation_channel, role_channel, user_channel
from chat_server.chat.node import Node
from chat_server.chat.store import Appended, Conversation
from chat_server.crisis.cascade import (
    Assessment,
    RiskLevel,
    assess_rules,
    combine,
    default_model,
    default_rules,
)
from chat_server.crisis.escalation import (
    OUTCOMES,
    Deadlines,
    Screen,
    Source,
    audience,
    opens,
    parse_screen,
)
from chat_server.crisis.hotlines import HOTLINES
from chat_server.crisis.referrals import (
    KINDS,
    STATUSES,
    card_text,
    end_of_day,
    may_move,
    seed_resources,
)
from chat_server.crisis.stage import AssessmentStage, Pending
from chat_server.crisis.store import (
    Escalation,
    EscalationStore,
    Signal,
    mark_followup_done,
)
from chat_server.periodic import cancel, every
from chat_server.problems import (
    Problem,
    check_origin,
    field_str,
    json_body,
    path_int,
    require_role,
)
from chat_server.wire.protocol import (
    Command,
    ErrorCode,
    Fields,
    ProtocolError,
    Role,
    frame_type,
)

if TYPE_CHECKING:
    from chat_server.chat.endpoint import Connection

# A high-risk message the live path did not escalate within this long is recovered.
RECOVER_AFTER_S = 3
# A worker message no learned stage settled within this long is read back and assessed
# (its node died after the ack). Longer than RECOVER_AFTER_S: a live stage that is behind
# under a burst should not be raced by every node's sweeper.
RECOVER_PENDING_AFTER_S = 10

log = logging.getLogger("yizhan.crisis")

SWEEP_S = 1.0
MAX_REASON = 500
LEVEL_NAMES = tuple(level.name for level in RiskLevel)

# ---- frames -------------------------------------------------------------------------------

SUPERVISOR = frozenset({Role.SUPERVISOR})


@dataclass(frozen=True, slots=True)
class Flag(Command):
    conversation_id: str
    level: RiskLevel
    reason: str


@dataclass(frozen=True, slots=True)
class ScreenAnswers(Command):
    screen: Screen


@dataclass(frozen=True, slots=True)
class Ack(Command):
    escalation_id: str


@dataclass(frozen=True, slots=True)
class Watch(Command):
    conversation_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Whisper(Command):
    conversation_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Join(Command):
    conversation_id: str


@dataclass(frozen=True, slots=True)
class SetLevel(Command):
    escalation_id: str
    level: RiskLevel
    reason: str


@dataclass(frozen=True, slots=True)
class Resolve(Command):
    escalation_id: str
    outcome: str
    note: str


@frame_type("flag", frozenset({Role.COUNSELOR}))
def _flag(f: Fields, ref: str | None) -> Command:
    level = RiskLevel.parse(f.choice("level", ("watch", "high", "imminent")))
    return Flag(ref, f.uuid("conversation_id"), level, f.text("reason", max_chars=MAX_REASON))


@frame_type("screen", frozenset({Role.WORKER}))
def _screen(f: Fields, ref: str | None) -> Command:
    try:
        return ScreenAnswers(ref, parse_screen(f.data.get("answers")))
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"answers.{exc} must be an integer 0–3",
                            field=f"answers.{exc}") from None


@frame_type("ack", SUPERVISOR)
def _ack(f: Fields, ref: str | None) -> Command:
    return Ack(ref, f.uuid("escalation_id"))


@frame_type("watch", SUPERVISOR)
def _watch(f: Fields, ref: str | None) -> Command:
    return Watch(ref, f.uuid("conversation_id"),
                 f.text("reason", max_chars=MAX_REASON, required=False))


@frame_type("whisper", SUPERVISOR)
def _whisper(f: Fields, ref: str | None) -> Command:
    return Whisper(ref, f.uuid("conversation_id"), f.text("text"))


@frame_type("join", SUPERVISOR)
def _join(f: Fields, ref: str | None) -> Command:
    return Join(ref, f.uuid("conversation_id"))


@frame_type("set_level", SUPERVISOR)
def _set_level(f: Fields, ref: str | None) -> Command:
    level = RiskLevel.parse(f.choice("level", LEVEL_NAMES))
    return SetLevel(ref, f.uuid("escalation_id"), level,
                    f.text("reason", max_chars=MAX_REASON))


@frame_type("resolve", SUPERVISOR)
def _resolve(f: Fields, ref: str | None) -> Command:
    return Resolve(ref, f.uuid("escalation_id"), f.choice("outcome", OUTCOMES),
                   f.text("note", max_chars=MAX_REASON, required=False))


def _ref(command: Command) -> dict[str, Any]:
    return {"ref": command.ref} if command.ref is not None else {}


# ---- the feature --------------------------------------------------------------------------


class CrisisFeature:
    def __init__(self, node: Node) -> None:
        self.node = node
        s = node.settings
        self.store = EscalationStore(node.services.pool, node.vault,
                                     Deadlines(s.ack_deadline_s, s.ack_deadline_imminent_s))
        self._task: asyncio.Task[None] | None = None
        # The learned stage, after the acknowledgement (issue 18, item 5).
        self.stage = AssessmentStage(self.assessed)

    def install(self) -> None:
        node = self.node
        node.message_hooks.append(self.on_message)
        # Read and compile the rules now: compiling them on the first worker message
        # stopped the event loop for tens of milliseconds, in front of everyone.
        default_rules()
        default_model()
        # On the send path only the rules run (microseconds): their level is stored with
        # the message as a floor; the learned layer runs after the ack (crisis_stage.py).
        node.assessor = assess_rules
        node.welcome_extras.append(self.welcome)
        node.handlers.update({
            Flag: self.flag, ScreenAnswers: self.screen, Ack: self.ack, Watch: self.watch,
            Whisper: self.whisper, Join: self.join, SetLevel: self.set_level,
            Resolve: self.resolve,
        })

    async def start(self) -> None:
        await self.store.seed_resources(seed_resources(), self.node.now())
        self._task = asyncio.create_task(every(SWEEP_S, self.sweep, "escalation sweep"),
                                         name="escalation-sweeper")
        self.stage.start()

    async def stop(self) -> None:
        await cancel(self._task)
        await self.stage.stop()

    # ---- alerts -----------------------------------------------------------------------

    async def supervisors_connected(self) -> bool:
        """Any supervisor socket on any node: a node subscribes the supervisor channel
        while it holds one, so Redis's subscriber count answers across nodes."""
        counts = await self.node.services.redis.pubsub_numsub(role_channel("supervisor"))
        return any(int(n) > 0 for _, n in counts)

    async def announce(self, esc: Escalation, *, opened: bool = False, realert: bool = False,
                       badge: bool = True) -> None:
        """Tell staff about an escalation change; the worker hears nothing of it."""
        hub = self.node.hub
        present = await self.supervisors_connected()
        who = audience(present, realert)
        # A new escalation rings first for the supervisor of the hour (if rostered and
        # connected); every board still lists it. A missed deadline rings for everyone.
        alert_to = None if realert or not opened else await self.supervisors_of_the_hour()
        frame = {"type": "escalation", "escalation": esc.view(), "opened": opened,
                 "realert": realert, "no_supervisor": who.no_supervisor, "alert_to": alert_to}
        items: list[tuple[str, dict[str, Any]]] = [
            (role_channel(role), {"t": "frame", "frame": frame, "roles": [role]})
            for role in who.roles
        ]
        if esc.counselor_id:
            if badge:
                items.append((user_channel(esc.counselor_id), {"t": "frame", "frame": {
                    "type": "risk", "conversation_id": esc.conversation_id,
                    "level": esc.level.name}}))
            if who.no_supervisor and (opened or realert):
                items.append((user_channel(esc.counselor_id), {"t": "frame", "frame": {
                    "type": "no_supervisor", "conversation_id": esc.conversation_id,
                    "escalation_id": esc.id}}))
        await hub.publish_many(items)

    async def supervisors_of_the_hour(self) -> list[str] | None:
        """Rostered supervisors now on a socket; None (everyone) if there are none."""
        from chat_server.roster.store import supervisor_of_the_hour

        node = self.node
        ids = await supervisor_of_the_hour(node.services.pool, node.now(), tz=node.hours.tz)
        if not ids:
            return None
        counts = await node.services.redis.pubsub_numsub(*(user_channel(i) for i in ids))
        connected = [i for i, (_, n) in zip(ids, counts, strict=True) if int(n) > 0]
        return connected or None

    async def badge(self, conv: Conversation, level: RiskLevel) -> None:
        if conv.counselor_id:
            await self.node.hub.publish(user_channel(conv.counselor_id), {"t": "frame", "frame": {
                "type": "risk", "conversation_id": conv.id, "level": level.name}})

    async def hotlines(self, conv: Conversation) -> None:
        # To the sockets following this conversation (sessions that may read it), not to
        # every socket of the worker: that a chat raised an alarm is its content too.
        await self.node.hub.publish(conversation_channel(conv.id), {
            "t": "frame", "roles": ["worker"],
            "frame": {"type": "hotlines", "hotlines": HOTLINES}})

    async def escalate(self, conv: Conversation, level: RiskLevel, source: Source,
                       rule_ids: tuple[str, ...], *, actor: str | None = None,
                       note: str | None = None, role: str = "system") -> Signal:
        node = self.node
        wrapped = await node.conversations.wrapped_key(conv.id) if note else None
        sig = await self.store.signal(conv.id, level, source, rule_ids, node.now(),
                                      actor=actor, note=note, wrapped=wrapped, role=role)
        await self.store.raise_conversation_level(conv.id, sig.escalation.level)
        if sig.opened or sig.raised:
            await self.announce(sig.escalation, opened=sig.opened)
            if sig.escalation.level >= RiskLevel.imminent:
                # Safety first: the worker sees the 24-hour lines at once.
                await self.hotlines(conv)
            log.warning("escalation", extra={"fields": {
                "escalation_id": sig.escalation.id, "level": sig.escalation.level.name,
                "opened": sig.opened, "source": str(source)}})
        return sig

    # ---- the message hook ------------------------------------------------------------

    async def on_message(self, conn: Connection, conv: Conversation, appended: Appended,
                         text: str, assessment: Assessment | None) -> None:
        if conn.role is not Role.WORKER:
            return
        # Stored (with the rules' level, pending) and acknowledged already: the learned
        # stage reads it in the background and calls `assessed`.
        self.stage.submit(conv.id, appended.seq, text)
        metrics.ASSESSMENT_BACKLOG.set(self.stage.backlog)

    async def assessed(self, batch: list[tuple[Pending, Assessment]]) -> None:
        """Record a batch's levels, then escalate or badge what needs it (event loop)."""
        settled = await self.store.settle_levels(
            [(p.conversation_id, p.seq, a.level, a.reasons) for p, a in batch])
        stored = {(str(r["conversation_id"]), r["seq"]): r for r in settled}
        for p, a in batch:
            row = stored.get((p.conversation_id, p.seq))
            if row is not None and RiskLevel(row["level"]) >= RiskLevel.watch:
                try:
                    await self.act(p.conversation_id, p.seq, RiskLevel(row["level"]), a.reasons)
                except Exception:
                    # A high row stays unhandled: the sweeper opens its escalation.
                    log.exception("acting on an assessment failed")
            metrics.ASSESSMENT_SECONDS.observe(time.monotonic() - p.since)
        metrics.ASSESSMENT_BACKLOG.set(self.stage.backlog)

    async def act(self, conversation_id: str, seq: int, level: RiskLevel,
                  reasons: tuple[str, ...]) -> None:
        conv = await self.node.conversations.get(conversation_id)
        if conv is None:
            return
        new = level
        # The context rule only ever raises a message that is itself at least watch.
        level = combine(await self.store.recent_levels(conv.id, seq), level)
        reasons = reasons + (("context_rule",) if level > new else ())
        if opens(level):
            await self.escalate(conv, level, Source.MESSAGE, reasons)
            await self.store.mark_risk_handled(conv.id, seq, self.node.now())
        elif await self.store.raise_conversation_level(conv.id, level):
            # The sender's socket may hold an older copy (a hand-over changes the counselor).
            await self.badge(conv, level)

    # ---- welcome: a supervisor's board starts with what is open ----------------------

    async def welcome(self, conn: Connection) -> dict[str, Any]:
        if conn.role is not Role.SUPERVISOR:
            return {}
        open_ = await self.store.list(("open", "acknowledged"))
        return {"escalations": [e.view() for e in open_]}

    # ---- sweeper ----------------------------------------------------------------------

    async def sweep(self) -> None:
        await self.recover_unassessed()
        await self.recover_unhandled()
        for esc in await self.store.overdue(self.node.now()):
            metrics.ESCALATION_BREACHES.inc()
            log.error("escalation not acknowledged in time", extra={"fields": {
                "escalation_id": esc.id, "level": esc.level.name}})
            await self.announce(esc, realert=True, badge=False)

    async def recover_unassessed(self) -> None:
        """Hand the stage again the pending rows that no stage settled in time (a node died
        between the ack and the assessment): the message is read back from the record.
        Rows this node's stage still holds are left to it: re-reading them under a burst
        only added load to a stage that was behind."""
        rows = await self.store.lease_pending(RECOVER_PENDING_AFTER_S, self.node.now())
        taken = 0
        for row in rows:
            cid, seq = str(row["conversation_id"]), row["seq"]
            if (cid, seq) in self.stage.held:
                continue
            earlier = await self.node.conversations.messages_after(cid, max(0, seq - 8), 8)
            texts = [m for m in earlier if m.sender_role == "worker" and m.kind == "text"]
            mine = [m.text for m in texts if m.seq == seq]
            if not mine:
                continue  # shredded or not a text: nothing to read
            self.stage.submit(cid, seq, mine[0],
                              context=[m.text for m in texts if m.seq < seq])
            taken += 1
        if taken:
            log.error("messages assessed late, by the sweeper", extra={"fields": {
                "count": taken}})

    async def recover_unhandled(self) -> None:
        """Open the escalations that a failure between storing a high-risk message and
        alerting left unopened: the risk row was stored with the message, so it is not
        lost. Each row is claimed by one node before it acts."""
        for row in await self.store.claim_unhandled_risk(RECOVER_AFTER_S, self.node.now()):
            conv = await self.node.conversations.get(str(row["conversation_id"]))
            if conv is None or conv.status not in ("active", "waiting"):
                continue
            try:
                await self.escalate(conv, RiskLevel(row["level"]), Source.MESSAGE,
                                    (*row["rule_ids"], "recovered"))
            except Exception:
                await self.store.unclaim_risk(str(row["conversation_id"]), row["seq"])
                raise
            log.error("escalation opened late, by the sweeper", extra={"fields": {
                "conversation_id": str(row["conversation_id"]), "seq": row["seq"]}})

    # ---- counselor and worker frames ---------------------------------------------------

    async def flag(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Flag)
        conv = await self.node.conversations.get(cmd.conversation_id)
        if conv is None or conv.counselor_id != conn.principal.id:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such conversation")
        if opens(cmd.level):
            sig = await self.escalate(conv, cmd.level, Source.FLAG, ("counselor_flag",),
                                      actor=conn.principal.id, note=cmd.reason,
                                      role="counselor")
            conn.push({"type": "flagged", "conversation_id": conv.id,
                       "escalation_id": sig.escalation.id,
                       "level": sig.escalation.level.name, **_ref(cmd)})
            return
        await self.store.audit(conn.principal.id, "flag_watch", self.node.now(),
                               conversation_id=conv.id)
        if await self.store.raise_conversation_level(conv.id, cmd.level):
            await self.badge(conv, cmd.level)
        conn.push({"type": "flagged", "conversation_id": conv.id, "escalation_id": None,
                   "level": cmd.level.name, **_ref(cmd)})

    async def screen(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, ScreenAnswers)
        node = self.node
        p = conn.principal
        conv = await node.conversations.open_for_session(p.id, p.token_hash, p.devices)
        from chat_server.chat.endpoint import may_access

        if conv is None or conv.status != "waiting" or not may_access(conn, conv):
            raise ProtocolError(ErrorCode.NOT_FOUND, "you are not waiting")
        s = cmd.screen
        if not await self.store.store_screen(conv.id, s.phq2_1, s.phq2_2, s.phq9_9, node.now()):
            raise ProtocolError(ErrorCode.CONFLICT, "already answered")
        # The worker's answer carries no score or level, whatever the answers were.
        conn.push({"type": "screened", "conversation_id": conv.id, **_ref(cmd)})
        if s.self_harm:
            await node.queue.raise_band(conv.id, Band.CRISIS)
            await node.services.pool.execute(
                "UPDATE conversations SET band = 0 WHERE id = $1", uuid.UUID(conv.id))
            await self.escalate(conv, RiskLevel.high, Source.SCREEN, ("screen_phq9_item9",))
            await self.hotlines(conv)
            if node.dispatcher is not None:
                node.dispatcher.kick()

    # ---- supervisor frames -----------------------------------------------------------

    async def _escalation(self, escalation_id: str) -> Escalation:
        esc = await self.store.get(escalation_id)
        if esc is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such escalation")
        return esc

    async def ack(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Ack)
        await self._escalation(cmd.escalation_id)
        esc = await self.store.acknowledge(cmd.escalation_id, conn.principal.id,
                                           self.node.now())
        if esc is None:
            current = await self._escalation(cmd.escalation_id)
            raise ProtocolError(ErrorCode.CONFLICT, "already acknowledged or resolved",
                                owner=current.owner_name, status=str(current.status))
        metrics.ESCALATION_ACK_SECONDS.observe(
            max(0.0, (self.node.now() - esc.opened_at).total_seconds()))
        conn.push({"type": "escalation_result", "action": "ack", "escalation": esc.view(),
                   **_ref(cmd)})
        await self.announce(esc, badge=False)

    async def _conversation(self, conversation_id: str) -> Conversation:
        conv = await self.node.conversations.get(conversation_id)
        if conv is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such conversation")
        return conv

    async def watch(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Watch)
        conv = await self._conversation(cmd.conversation_id)
        esc = await self.store.open_for(conv.id)
        reason = cmd.reason.strip()
        if esc is None and not reason:
            raise ProtocolError(ErrorCode.FORBIDDEN,
                                "no open escalation: give a reason to watch this conversation",
                                field="reason")
        # Watching decrypts the transcript for a staff member: always audited, with why.
        await self.store.audit(conn.principal.id, "watch", self.node.now(),
                               conversation_id=conv.id,
                               escalation_id=esc.id if esc else None,
                               reason=reason or "open escalation")
        conn.watching.add(conv.id)
        await conn.follow(conv)
        conn.push({"type": "watching", "conversation_id": conv.id, "last_seq": conv.last_seq,
                   "status": conv.status, "escalation": esc.view() if esc else None,
                   **_ref(cmd)})

    def _require_watching(self, conn: Connection, conversation_id: str) -> None:
        if conversation_id not in conn.watching:
            raise ProtocolError(ErrorCode.FORBIDDEN, "watch the conversation first")

    async def whisper(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Whisper)
        node = self.node
        self._require_watching(conn, cmd.conversation_id)
        conv = await self._conversation(cmd.conversation_id)
        if conv.counselor_id is None:
            raise ProtocolError(ErrorCode.CONVERSATION_CLOSED, "no counselor to whisper to")
        wrapped = await node.conversations.wrapped_key(conv.id)
        if wrapped is None:
            raise ProtocolError(ErrorCode.CONVERSATION_CLOSED, "the conversation was deleted")
        now = node.now()
        wid = await self.store.store_whisper(conv.id, conn.principal.id, conv.counselor_id,
                                             cmd.text, wrapped, now)
        await self.store.audit(conn.principal.id, "whisper", now, conversation_id=conv.id)
        frame = {"type": "whisper", "id": wid, "conversation_id": conv.id,
                 "from": {"id": conn.principal.id, "display_name": conn.principal.name},
                 "text": cmd.text, "at": now.isoformat()}
        # The counselor's own channel, filtered to counselor sockets: never the worker's.
        await node.hub.publish(user_channel(conv.counselor_id),
                               {"t": "frame", "frame": frame, "roles": ["counselor"]})
        conn.push({"type": "whispered", "id": wid, "conversation_id": conv.id, **_ref(cmd)})

    async def join(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Join)
        self._require_watching(conn, cmd.conversation_id)
        conv = await self._conversation(cmd.conversation_id)
        if conv.status != "active":
            raise ProtocolError(ErrorCode.CONVERSATION_CLOSED, "the conversation is not active")
        conn.joined.add(conv.id)
        esc = await self.store.open_for(conv.id)
        await self.store.audit(conn.principal.id, "join", self.node.now(),
                               conversation_id=conv.id, escalation_id=esc.id if esc else None)
        await self.node.hub.publish(conversation_channel(conv.id), {"t": "frame", "frame": {
            "type": "supervisor_joined", "conversation_id": conv.id,
            "display_name": conn.principal.name}})
        conn.push({"type": "joined", "conversation_id": conv.id, **_ref(cmd)})

    async def set_level(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, SetLevel)
        node = self.node
        current = await self._escalation(cmd.escalation_id)
        wrapped = await node.conversations.wrapped_key(current.conversation_id)
        esc = await self.store.set_level(cmd.escalation_id, conn.principal.id, cmd.level,
                                         cmd.reason, wrapped, node.now())
        if esc is None:
            raise ProtocolError(ErrorCode.CONFLICT, "the escalation is resolved")
        conn.push({"type": "escalation_result", "action": "set_level",
                   "escalation": esc.view(), **_ref(cmd)})
        await self.announce(esc)
        if esc.level >= RiskLevel.imminent > current.level:
            conv = await self._conversation(esc.conversation_id)
            await self.hotlines(conv)

    async def resolve(self, conn: Connection, cmd: Command) -> None:
        assert isinstance(cmd, Resolve)
        node = self.node
        current = await self._escalation(cmd.escalation_id)
        note = cmd.note.strip() or None
        wrapped = await node.conversations.wrapped_key(current.conversation_id) if note else None
        esc = await self.store.resolve(cmd.escalation_id, conn.principal.id, cmd.outcome,
                                       note, wrapped, node.now())
        if esc is None:
            raise ProtocolError(ErrorCode.CONFLICT, "already resolved")
        conn.push({"type": "escalation_result", "action": "resolve", "escalation": esc.view(),
                   **_ref(cmd)})
        await self.announce(esc, badge=False)


# ---- HTTP ---------------------------------------------------------------------------------


def feature_of(request: Request) -> CrisisFeature:
    return request.app.state.crisis


async def _staff(request: Request, *roles: str) -> Any:
    from chat_server.accounts.sessions import STAFF_COOKIE
    from chat_server.chat.routes import principal

    return require_role(await principal(request, STAFF_COOKIE), *roles)


def _uuid(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise Problem(404, "not_found", f"no such {what}") from None


_STATUS_FILTERS = {"open": ("open",), "acknowledged": ("acknowledged",),
                   "resolved": ("resolved",), "active": ("open", "acknowledged"),
                   "all": ("open", "acknowledged", "resolved")}


async def list_escalations(request: Request) -> Response:
    p = await _staff(request, "supervisor", "counselor")
    feature = feature_of(request)
    wanted = request.query_params.get("status", "active")
    statuses = _STATUS_FILTERS.get(wanted)
    if statuses is None:
        raise Problem(400, "bad_field", "status must be one of " + ", ".join(_STATUS_FILTERS),
                      field="status")
    # Counselors see only escalations of conversations they serve.
    mine = p.id if p.role is Role.COUNSELOR else None
    rows = await feature.store.list(statuses, counselor_id=mine)
    return JSONResponse({"escalations": [e.view() for e in rows]})


async def list_audit(request: Request) -> Response:
    await _staff(request, "supervisor")
    conv = request.query_params.get("conversation_id")
    try:
        limit = min(500, max(1, int(request.query_params.get("limit", "100"))))
    except ValueError:
        raise Problem(400, "bad_field", "limit must be an integer", field="limit") from None
    rows = await feature_of(request).store.audit_rows(
        _uuid(conv, "conversation") if conv else None, limit)
    return JSONResponse({"audit": rows})


async def resources(request: Request) -> Response:
    feature = feature_of(request)
    if request.method == "GET":
        await _staff(request)
        return JSONResponse({"resources": await feature.store.resources()})
    check_origin(request)
    p = await _staff(request, "supervisor", "admin")
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


async def create_referral(request: Request) -> Response:
    check_origin(request)
    p = await _staff(request, "supervisor", "counselor")
    feature = feature_of(request)
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


async def _post_card(feature: CrisisFeature, conv: Conversation, p: Any,
                     resource: dict[str, Any], note: str) -> int:
    """The worker sees the referral as a card in the chat: a stored, encrypted message."""
    from chat_server.chat.endpoint import message_event

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


async def referral_status(request: Request) -> Response:
    check_origin(request)
    p = await _staff(request, "supervisor", "counselor")
    feature = feature_of(request)
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


async def list_followups(request: Request) -> Response:
    await _staff(request, "supervisor")
    feature = feature_of(request)
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


async def followup_done(request: Request) -> Response:
    check_origin(request)
    p = await _staff(request, "supervisor")
    feature = feature_of(request)
    followup_id = path_int(request, "followup_id", "follow-up")
    if not await mark_followup_done(feature.node.services.pool, followup_id, p.id,
                                    feature.node.now()):
        raise Problem(404, "not_found", "no such open follow-up")
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/supervisor/followups/{followup_id}/done", followup_done, methods=["POST"]),
        Route("/api/supervisor/escalations", list_escalations),
        Route("/api/supervisor/audit", list_audit),
        Route("/api/supervisor/followups", list_followups),
        Route("/api/referrals/resources", resources, methods=["GET", "POST"]),
        Route("/api/escalations/{escalation_id}/referrals", create_referral, methods=["POST"]),
        Route("/api/referrals/{referral_id}/status", referral_status, methods=["POST"]),
    ]


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """The feature's lifespan: runs after the chat feature made the node."""
    node: Node = app.state.node
    feature = CrisisFeature(node)
    feature.install()
    app.state.crisis = feature
    await feature.start()
    try:
        yield
    finally:
        await feature.stop()
