"""Shifts on a running node: the duty guard, the draining sweeper, wait hints (HTTP: routes.py).

Duty follows the roster: a counselor may go on duty from `duty_lead_minutes` before a shift
until its end, or with a supervisor's approval. At the end, the sweeper marks the seat
draining (no new worker, conversations in progress go on) and takes it off duty once the
last conversation has ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from chat_server.chat.duty import duty_frame
from chat_server.chat.hub import user_channel
from chat_server.chat.node import Node
from chat_server.chat.wake import Wake
from chat_server.roster.rules import (
    HourCoverage,
    Person,
    Shift,
    Window,
    coverage,
    days_between,
    duty_allowed,
    hhmm,
    next_shift,
    parse_targets,
    wait_outlook,
)
from chat_server.roster.store import Record, RosterStore
from chat_server.wire.events import DutyEvent
from chat_server.wire.protocol import ErrorCode, ProtocolError

log = logging.getLogger("yizhan.shifts")

SWEEP_S = 2.0
CACHE_S = 10.0  # how stale the wait hint may be (it runs every second per waiting worker)
MAX_CSV_BYTES = 1 << 20
EDITORS = ("supervisor", "admin")
NEXT_SHIFT_DAYS = 14  # how far ahead a refused counselor is told their next shift


class Shifts:
    def __init__(self, node: Node, wake: Wake, hotlines: Sequence[Mapping[str, str]]) -> None:
        s = node.settings
        self.node = node
        # Woken when the sweeper changed seats (a drained seat takes no new worker).
        self.wake = wake
        # Told to a waiting worker when no counselor is scheduled soon (crisis/hotlines.py).
        self.hotlines = list(hotlines)
        self.tz = s.tz
        self.window = Window.of(s.open_time, s.close_time, s.closed_days)
        self.store = RosterStore(node.services.pool, self.tz, self.window, node.time)
        self.targets = parse_targets(s.coverage_targets)
        self.lead = dt.timedelta(minutes=s.duty_lead_minutes)
        # (local date, monotonic time) → (roster in use, counselor shifts around that date)
        self._cache: tuple[dt.date, float, bool, list[Shift]] | None = None

    def invalidate(self) -> None:
        self._cache = None

    # ---- duty -------------------------------------------------------------------------

    async def may_be_on_duty(self, staff_id: str, now: dt.datetime,
                             shifts: list[Shift] | None = None) -> bool:
        if shifts is None:
            shifts = await self.store.shifts_around(now)
        mine = [s for s in shifts if s.staff_id == staff_id]
        if duty_allowed(mine, now, self.tz, self.lead):
            return True
        return await self.store.approved_until(staff_id, now) is not None

    async def guard(self, staff_id: str, now: dt.datetime) -> str | None:
        """A chat DutyGuard: an error message, or None to let this counselor on duty."""
        if not self.node.settings.duty_requires_roster:
            return None
        shifts = await self.store.shifts_around(now)
        if await self.may_be_on_duty(staff_id, now, shifts):
            return None
        lead = int(self.lead.total_seconds() // 60)
        upcoming = next_shift([s for s in shifts if s.staff_id == staff_id], now, self.tz)
        if upcoming is None:  # not in the next day or so: look two weeks ahead
            today = now.astimezone(self.tz).date()
            later = await self.store.shifts(today, today + dt.timedelta(days=NEXT_SHIFT_DAYS))
            upcoming = next_shift([s for s in later if s.staff_id == staff_id], now, self.tz)
        when = ""
        extra: dict[str, Any] = {"reason": "not_scheduled", "next_shift": None,
                                 "lead_minutes": lead}
        if upcoming is not None:
            when = (f" Your next shift starts {upcoming.day} {hhmm(upcoming.start)};"
                    f" duty opens {lead} minutes before.")
            extra["next_shift"] = {"start": upcoming.start_at(self.tz).isoformat(),
                                   "end": upcoming.end_at(self.tz).isoformat()}
        # Raised here rather than returned, so the page gets the next shift as data and
        # can say it in the counselor's language.
        raise ProtocolError(ErrorCode.FORBIDDEN,
                            f"you are not scheduled now.{when} To go on duty anyway, ask a"
                            " supervisor for approval.", **extra)

    async def sweep(self) -> None:
        """Drain counselors whose shift has ended; off duty once their last chat ends."""
        node = self.node
        if not node.settings.duty_requires_roster:
            return
        now = node.now()
        seats = await node.queue.on_duty()
        if not seats:
            return
        shifts = await self.store.shifts_around(now)
        for seat in seats:
            if await self.may_be_on_duty(seat.staff_id, now, shifts):
                continue
            if not seat.draining:
                await node.queue.set_draining(seat.staff_id, True)
                await self._audit(seat.staff_id, "duty_drain")
                log.info("shift ended: draining", extra={"fields": {"staff": seat.staff_id}})
            elif seat.load == 0:
                await node.queue.counselor_off_duty(seat.staff_id)
                await self._audit(seat.staff_id, "duty_off")
            else:
                continue
            after = next((s for s in await node.queue.on_duty()
                          if s.staff_id == seat.staff_id), None)
            frame = duty_frame(seat.capacity, after, seat.load)
            await node.hub.publish(user_channel(seat.staff_id), DutyEvent(frame.to_wire()))
        self.wake.kick()

    async def _audit(self, staff_id: str, action: str) -> None:
        await self.node.services.pool.execute(
            "INSERT INTO audit_log (actor_staff_id, action, reason, at) VALUES ($1, $2, $3, $4)",
            uuid.UUID(staff_id), action, "shift ended", self.node.now())

    # ---- waiting ----------------------------------------------------------------------

    async def _counselor_shifts(self, now: dt.datetime) -> tuple[bool, list[Shift]]:
        today = now.astimezone(self.tz).date()
        c = self._cache
        if c and c[0] == today and time.monotonic() - c[1] < CACHE_S:
            return c[2], c[3]
        in_use = await self.store.in_use()
        people = await self.store.people()
        shifts = [s for s in await self.store.shifts_around(now)
                  if people.get(s.staff_id, Person("", "", "", "")).role == "counselor"]
        self._cache = (today, time.monotonic(), in_use, shifts)
        return in_use, shifts

    async def wait_hook(self, estimate: int | None) -> dict[str, Any]:
        """The roster's word on a waiting worker's prospects (a chat WaitAdvisor)."""
        now = self.node.now()
        in_use, shifts = await self._counselor_shifts(now)
        if not in_use:
            return {}  # no roster kept here: claim nothing
        outlook = wait_outlook(shifts, now, self.tz, estimate)
        out: dict[str, Any] = {
            "no_counselor_scheduled_soon": outlook.no_counselor_scheduled_soon,
            "scheduled_until": (outlook.scheduled_until.astimezone(self.tz).isoformat()
                                if outlook.scheduled_until else None),
        }
        if outlook.estimated_wait_s != estimate:
            out["estimated_wait_s"] = outlook.estimated_wait_s
        if outlook.no_counselor_scheduled_soon:
            out["hotlines"] = self.hotlines
        return out

    # ---- views ------------------------------------------------------------------------

    async def coverage(self, first: dt.date, days: int) -> list[HourCoverage]:
        last = first + dt.timedelta(days=days - 1)
        people = await self.store.people()
        roles = {k: p.role for k, p in people.items()}
        return coverage(await self.store.shifts(first, last), roles, days_between(first, last),
                        self.window, self.targets)


def records_csv(records: list[Record]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["username", "display_name", "role", "scheduled_hours", "on_duty_hours",
                "conversations", "escalations"])
    for r in records:
        w.writerow([r.person.username, r.person.display_name, r.person.role,
                    f"{r.scheduled_s / 3600:.2f}", f"{r.on_duty_s / 3600:.2f}", r.conversations,
                    "" if r.escalations is None else r.escalations])
    return buf.getvalue()
