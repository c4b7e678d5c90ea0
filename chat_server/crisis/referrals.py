"""Referral rules without I/O: the seed directory, status transitions, follow-up times, cards."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import tomllib
from dataclasses import dataclass

from yizhan_errors import YizhanError

SEED_FILE = "referrals.toml"

KINDS = ("hotline", "emergency", "hospital", "counseling", "legal", "other")

# Which status may follow which; completed and declined are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"accepted", "declined", "contacted"}),
    "accepted": frozenset({"contacted", "completed", "declined"}),
    "contacted": frozenset({"completed", "declined"}),
    "declined": frozenset(),
    "completed": frozenset(),
}
STATUSES = tuple(TRANSITIONS)

# Follow-ups after a referral is made: label and delay.
FOLLOWUPS: tuple[tuple[str, dt.timedelta], ...] = (
    ("24h", dt.timedelta(hours=24)),
    ("1w", dt.timedelta(days=7)),
    ("1m", dt.timedelta(days=30)),
)


@dataclass(frozen=True, slots=True)
class Resource:
    key: str
    name: str
    phone: str
    kind: str
    hours: str
    region: str
    verify_before_launch: bool


class SeedError(YizhanError, ValueError):
    """The seed file is malformed; the message names the entry and field."""


def parse_seed(text: str) -> list[Resource]:
    data = tomllib.loads(text)
    out: list[Resource] = []
    for i, entry in enumerate(data.get("resource", [])):
        where = f"resource #{i + 1}"
        for name in ("key", "name", "phone", "kind"):
            if not isinstance(entry.get(name), str) or not entry[name].strip():
                raise SeedError(f"{where}: {name} must be a non-empty string")
        if entry["kind"] not in KINDS:
            raise SeedError(f"{where}: kind must be one of {', '.join(KINDS)}")
        out.append(Resource(
            key=entry["key"], name=entry["name"], phone=entry["phone"], kind=entry["kind"],
            hours=str(entry.get("hours", "")), region=str(entry.get("region", "")),
            # Unverified unless the file says otherwise: numbers must be checked before launch.
            verify_before_launch=bool(entry.get("verify_before_launch", True)),
        ))
    return out


def seed_resources() -> list[Resource]:
    folder = importlib.resources.files("chat_server.crisis")
    text = folder.joinpath("data", SEED_FILE).read_text("utf-8")
    return parse_seed(text)


def may_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def followups(created_at: dt.datetime) -> list[tuple[str, dt.datetime]]:
    return [(label, created_at + delay) for label, delay in FOLLOWUPS]


def end_of_day(now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The end of `now`'s local day: "due today" means due before it (overdue included)."""
    local = now.astimezone(tz)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return midnight


def card_text(name: str, phone: str, kind: str, hours: str, note: str) -> str:
    """The JSON the worker's chat shows as a referral card (stored encrypted as a message)."""
    return json.dumps({"name": name, "phone": phone, "kind": kind, "hours": hours,
                       "note": note}, ensure_ascii=False)
